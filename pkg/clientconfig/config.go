// Package clientconfig reads and writes the client config file
// ($ORCH_CONFIG, default ~/.orch/config.yaml) that orch dev and orch server
// write on first start and every client command reads.
package clientconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
