package main

import (
	"bytes"
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
