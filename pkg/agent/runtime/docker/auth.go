package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
)

// Docker Hub's names: references say docker.io, config files and credential
// helpers use the legacy index address.
const (
	dockerHubDomain = "docker.io"
	dockerHubServer = "https://index.docker.io/v1/"
)

// dockerConfigFile is the part of the Docker CLI's config.json that holds
// registry credentials.
type dockerConfigFile struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore,omitempty"`
	CredHelpers map[string]string    `json:"credHelpers,omitempty"`
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"` // base64("user:password")
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// credHelperFunc asks a docker-credential-NAME helper for serverURL's
// credentials; found is false when the helper has none.
type credHelperFunc func(ctx context.Context, helper, serverURL string) (username, secret string, found bool, err error)

// registryHost returns the registry host of an image reference
// ("docker.io" for Docker Hub names such as "nginx" or "library/nginx").
func registryHost(image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", image, err)
	}
	return reference.Domain(named), nil
}

// configPath is the Docker CLI config file credentials are read from.
func (r *Runtime) configPath() string {
	dir := r.configDir
	if dir == "" {
		dir = os.Getenv("DOCKER_CONFIG")
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json")
}

// registryAuth returns the encoded X-Registry-Auth value for pulling image
// ("" for anonymous). A problem with the credentials is returned as warn, not
// as an error: the pull is still attempted anonymously, and warn is added to
// its error if it fails.
func (r *Runtime) registryAuth(ctx context.Context, image string) (auth string, warn error) {
	host, err := registryHost(image)
	if err != nil {
		return "", err
	}
	path := r.configPath()
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg dockerConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("parse docker config %s: %w", path, err)
	}
	ac, found, warn := r.lookupAuth(ctx, cfg, host)
	if !found {
		return "", warn
	}
	enc, err := registry.EncodeAuthConfig(ac)
	if err != nil {
		return "", err
	}
	return enc, warn
}

// lookupAuth finds host's credentials the way the Docker CLI does: a
// credHelpers entry for the host, else the credsStore, else the auths entry.
func (r *Runtime) lookupAuth(ctx context.Context, cfg dockerConfigFile, host string) (registry.AuthConfig, bool, error) {
	server := host
	if host == dockerHubDomain {
		server = dockerHubServer
	}
	var warn error
	helper := cfg.CredHelpers[host]
	if helper == "" && host == dockerHubDomain {
		helper = cfg.CredHelpers[dockerHubServer]
	}
	if helper == "" {
		helper = cfg.CredsStore
	}
	if helper != "" && r.credHelperFn != nil {
		user, secret, found, err := r.credHelperFn(ctx, helper, server)
		switch {
		case err != nil:
			warn = fmt.Errorf("credential helper docker-credential-%s for %s: %w", helper, server, err)
		case found:
			ac := registry.AuthConfig{ServerAddress: server}
			if user == "<token>" {
				ac.IdentityToken = secret
			} else {
				ac.Username, ac.Password = user, secret
			}
			return ac, true, nil
		}
	}
	// Deterministic order: the bare host first, then the other spellings.
	keys := make([]string, 0, len(cfg.Auths))
	for key := range cfg.Auths {
		if registryKeyMatches(key, host) {
			keys = append(keys, key)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == host) != (keys[j] == host) {
			return keys[i] == host
		}
		return keys[i] < keys[j]
	})
	for _, key := range keys {
		e := cfg.Auths[key]
		ac := registry.AuthConfig{
			Username:      e.Username,
			Password:      e.Password,
			IdentityToken: e.IdentityToken,
			RegistryToken: e.RegistryToken,
			ServerAddress: server,
		}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Auth))
			if err != nil {
				return registry.AuthConfig{}, false, fmt.Errorf("docker config auths[%q].auth is not valid base64: %w", key, err)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return registry.AuthConfig{}, false, fmt.Errorf("docker config auths[%q].auth is not base64 of user:password", key)
			}
			ac.Username, ac.Password = user, pass
		}
		if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
			continue // an empty entry left behind by a credsStore
		}
		return ac, true, warn
	}
	return registry.AuthConfig{}, false, warn
}

// registryKeyMatches reports whether an auths key ("localhost:5000",
// "https://registry.example.com/v2/", "https://index.docker.io/v1/") names host.
func registryKeyMatches(key, host string) bool {
	k := strings.ToLower(key)
	k = strings.TrimPrefix(k, "https://")
	k = strings.TrimPrefix(k, "http://")
	k, _, _ = strings.Cut(k, "/")
	h := strings.ToLower(host)
	if h == dockerHubDomain {
		return k == "docker.io" || k == "index.docker.io" || k == "registry-1.docker.io"
	}
	return k == h
}

// execCredHelper runs "docker-credential-HELPER get" with serverURL on stdin.
func execCredHelper(ctx context.Context, helper, serverURL string) (string, string, bool, error) {
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(serverURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		out := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if strings.Contains(strings.ToLower(out), "credentials not found") {
			return "", "", false, nil
		}
		if out != "" {
			return "", "", false, fmt.Errorf("%w: %s", err, out)
		}
		return "", "", false, err
	}
	var resp struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return "", "", false, fmt.Errorf("decode helper output: %w", err)
	}
	if resp.Username == "" && resp.Secret == "" {
		return "", "", false, nil
	}
	return resp.Username, resp.Secret, true, nil
}
