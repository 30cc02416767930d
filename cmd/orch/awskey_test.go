package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/clientconfig"
)

// The rotation docs/security.md describes, through the CLI: create with
// --write-config (orch aws-env then prints the new key), ls, deactivate
// and rm the old key; the last key cannot be removed.
func TestAWSKeyRotationCLI(t *testing.T) {
	cp := testutil.StartServer(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	oldID := cp.Bootstrap.AWSAccessKeyID
	if err := clientconfig.Save(cfg, &clientconfig.File{Server: cp.URL, Token: cp.Bootstrap.AdminToken,
		AWSAccessKeyID: oldID, AWSSecretAccessKey: cp.Bootstrap.AWSSecretAccessKey}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ORCH_CONFIG", cfg)
	t.Setenv("ORCH_SERVER", "")
	t.Setenv("ORCH_TOKEN", "")
	os.Unsetenv("ORCH_SERVER")
	os.Unsetenv("ORCH_TOKEN")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRoot()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}

	out, err := run("aws-key", "create", "--write-config")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	f, err := clientconfig.Load(cfg)
	if err != nil || f.AWSAccessKeyID == oldID || !strings.Contains(out, "AWS_SECRET_ACCESS_KEY="+f.AWSSecretAccessKey) {
		t.Fatalf("config after create --write-config: %+v %v; output:\n%s", f, err, out)
	}
	newID := f.AWSAccessKeyID
	if out, err := run("aws-env"); err != nil || !strings.Contains(out, "AWS_ACCESS_KEY_ID="+newID) {
		t.Fatalf("aws-env after the rotation: %v\n%s", err, out)
	}
	out, err = run("aws-key", "ls")
	if err != nil || !strings.Contains(out, oldID) || !strings.Contains(out, newID) || strings.Contains(out, f.AWSSecretAccessKey) {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, newID) && !strings.HasSuffix(strings.TrimSpace(line), "yes") {
			t.Errorf("ls does not mark the key in the config: %q", line)
		}
	}
	if out, err := run("aws-key", "deactivate", oldID); err != nil || !strings.Contains(out, "Inactive") {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	if out, err := run("aws-key", "rm", oldID); err != nil || !strings.Contains(out, "removed access key "+oldID) {
		t.Fatalf("rm: %v\n%s", err, out)
	}
	if _, err := run("aws-key", "rm", newID); err == nil || !strings.Contains(err.Error(), "last active admin AWS key") || !strings.Contains(err.Error(), "orch aws-key create") {
		t.Fatalf("rm of the last key: %v, want refused, saying to create a replacement first", err)
	}
}
