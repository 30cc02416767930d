package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/server"
	"github.com/spf13/cobra"
)

// A second server on the cluster's etcd did not create the credentials and
// has no client config: it must not point at a file that does not exist.
func TestAnnounceSecondServerWithoutClientConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "config.yaml")
	t.Setenv("ORCH_CONFIG", missing)
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	announce(cmd, &server.Server{URL: "https://127.0.0.1:7475"})
	got := out.String()
	if strings.Contains(got, "(see "+missing+")") || !strings.Contains(got, "none at "+missing+" here") {
		t.Fatalf("announce on a second server says:\n%s", got)
	}
}

// A first start whose output is not a terminal (journald, a log file)
// keeps the secrets out of it: they are in the 0600 client config, and
// the output says where.
func TestAnnounceFirstStartKeepsSecretsOutOfLogs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	t.Setenv("ORCH_CONFIG", path)
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	boot := &server.Credentials{AdminToken: "orch_admin_secret", JoinToken: "orch_join_secret",
		AWSAccessKeyID: "AKIAEXAMPLE", AWSSecretAccessKey: "aws-secret-value"}
	announce(cmd, &server.Server{URL: "https://127.0.0.1:7475", Bootstrap: boot})
	got := out.String()
	for _, secret := range []string{boot.AdminToken, boot.JoinToken, boot.AWSSecretAccessKey} {
		if strings.Contains(got, secret) {
			t.Fatalf("announce to a non-terminal printed a secret:\n%s", got)
		}
	}
	if !strings.Contains(got, "are in "+path+" (mode 0600)") || !strings.Contains(got, "orch join-token") {
		t.Fatalf("announce does not say where the credentials are:\n%s", got)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), boot.AdminToken) || !strings.Contains(string(saved), boot.AWSSecretAccessKey) {
		t.Fatalf("client config lacks the credentials:\n%s", saved)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("client config mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
}
