// Package clientconfig reads and writes the client config file
// ($ORCH_CONFIG, default ~/.orch/config.yaml) that orch dev and orch server
// write on first start and every client command reads.
package clientconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orch-project/orch/pkg/pki"
	"gopkg.in/yaml.v3"
)

// File is the client config.
type File struct {
	Server string `yaml:"server"`
	// Servers are more replicas to fail over to, tried after Server in
	// order (a comma-separated Server works too), as agents do.
	Servers            []string `yaml:"servers,omitempty"`
	Token              string   `yaml:"token"`
	JoinToken          string   `yaml:"joinToken,omitempty"`
	AWSAccessKeyID     string   `yaml:"awsAccessKeyId,omitempty"`
	AWSSecretAccessKey string   `yaml:"awsSecretAccessKey,omitempty"`
	AWSRegion          string   `yaml:"awsRegion,omitempty"`
	// CA is the cluster CA's certificate (PEM) the CLI trusts the
	// servers with; written by orch dev / orch server at first start.
	CA string `yaml:"ca,omitempty"`
}

// TLS trusts caFile if given, else the config's CA; nil when neither is
// set (the system roots then apply to https servers).
func (f *File) TLS(caFile string) (*tls.Config, error) {
	pemData := []byte(f.CA)
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pemData = b
	}
	if len(pemData) == 0 {
		return nil, nil
	}
	c, err := pki.ClientTLS(pemData)
	if err != nil {
		return nil, fmt.Errorf("the cluster CA (%s): %w", firstOf(caFile, "ca in "+Path()), err)
	}
	return c, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ReadSecretFile reads a secret (a token) from a file, trimming the final
// newline: how secrets reach Orch without appearing in argv.
func ReadSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s %s is empty", flag, path)
	}
	return v, nil
}

// AllServers is Server and Servers as one comma-separated list.
func (f *File) AllServers() string {
	all := []string{}
	for _, s := range append([]string{f.Server}, f.Servers...) {
		if s = strings.TrimSpace(s); s != "" {
			all = append(all, s)
		}
	}
	return strings.Join(all, ",")
}

// Path is $ORCH_CONFIG or ~/.orch/config.yaml.
func Path() string {
	if p := os.Getenv("ORCH_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".orch/config.yaml"
	}
	return filepath.Join(home, ".orch", "config.yaml")
}

// Load reads the file at path; a missing file is an empty config.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f File
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (fix or delete the file)", path, err)
	}
	return &f, nil
}

// Save writes the file with owner-only permissions.
func Save(path string, f *File) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append([]byte("# written by orch; holds credentials, keep it private\n"), b...), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
