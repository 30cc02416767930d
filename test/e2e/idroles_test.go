package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
)

// TestDuplicateNodeNameIsRefused: two hosts with the same name (duplicate
// hostnames, or a join-token holder taking a node over) no longer share a
// node: the second orchlet exits with what to do, and the first, holding
// the host key in its state dir, re-registers after a restart.
func TestDuplicateNodeNameIsRefused(t *testing.T) {
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	dir1, dir2 := t.TempDir(), t.TempDir()
	first := c.startAgent(t, "dup", "--runtime", "fake", "--state-dir", dir1)
	waitNodeAlive(t, c, "dup")
	fi, err := os.Stat(filepath.Join(dir1, "node.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key in the state dir: %v %v, want a 0600 file", fi, err)
	}

	second := c.startAgent(t, "dup", "--runtime", "fake", "--state-dir", dir2)
	if code := second.wait(t, 60*time.Second); code == 0 {
		t.Fatalf("a second host named dup exited 0:\n%s", second.Output())
	}
	for _, want := range []string{"node name dup is taken by another host", "orch node rm dup"} {
		if !strings.Contains(second.Output(), want) {
			t.Fatalf("second orchlet's output:\n%s\nwant %q", second.Output(), want)
		}
	}

	// The owner restarts (SIGKILL: no goodbye) and is the node again.
	first.kill(syscall.SIGKILL)
	first.wait(t, 30*time.Second)
	again := c.startAgent(t, "dup", "--runtime", "fake", "--state-dir", dir1)
	testutil.WaitFor(t, 60*time.Second, "the restarted owner registered again", func() (bool, string) {
		return strings.Contains(again.Output(), "registered"), tail(again.Output(), 3)
	})
	waitNodeAlive(t, c, "dup")
}

func waitNodeAlive(t *testing.T, c *cluster, name string) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, "node "+name+" alive", func() (bool, string) {
		ns, err := c.admin.ListNodes(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, n := range ns {
			if n.Name == name {
				return n.Alive, "not alive"
			}
		}
		return false, "not registered"
	})
}

// TestTokensPolicyAuditCLI walks the CLI a user would: mint a deployer
// token for CI, deploy with it, be refused an admin verb, list tokens
// (no secrets), read the audit log, tighten and read the policy, revoke.
func TestTokensPolicyAuditCLI(t *testing.T) {
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	out := c.orchStdout(t, "token", "create", "--role", "deployer", "--ttl", "24h", "--name", "ci")
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "orchdep_") || strings.Contains(tok, "\n") {
		t.Fatalf("token create printed %q, want the token alone on stdout", out)
	}
	ls := c.mustOrch(t, "token", "ls")
	if !strings.Contains(ls, "ci") || !strings.Contains(ls, "deployer") || strings.Contains(ls, tok) || strings.Contains(ls, c.cfg.Token) {
		t.Fatalf("token ls:\n%s\nwant ci (deployer) and no secret", ls)
	}

	// CI has the deployer token and the cluster CA, not the admin's config.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(c.cfg.CA), 0o644); err != nil {
		t.Fatal(err)
	}
	ci := &cluster{urls: c.urls, env: []string{"ORCH_CONFIG=" + filepath.Join(t.TempDir(), "none.yaml"), "ORCH_TOKEN=" + tok, "ORCH_CA_FILE=" + caFile}, cfg: c.cfg}
	ci.mustOrch(t, "apply", "-f", filepath.Join("..", "..", "examples", "manifests", "job.yaml"))
	if out, code := ci.orch(t, "", "token", "ls"); code == 0 || !strings.Contains(out, "a deployer token may deploy") {
		t.Fatalf("deployer running token ls: exit %d\n%s", code, out)
	}
	sock := `{"family":"sock","containerDefinitions":[{"name":"a","image":"orch-example/worker","memory":32,"mountPoints":[{"sourceVolume":"d","containerPath":"/var/run/docker.sock"}]}],"volumes":[{"name":"d","host":{"sourcePath":"/var/run/docker.sock"}}]}`
	if out, code := ci.orch(t, sock, "apply", "-f", "-"); code == 0 || !strings.Contains(out, "rule: deniedHostPaths") || !strings.Contains(out, "containerDefinitions[0].mountPoints[0]") {
		t.Fatalf("applying a Docker socket mount: exit %d\n%s", code, out)
	}

	c.mustOrch(t, "policy", "set", "--allow-root=false")
	if pol := c.mustOrch(t, "policy", "get"); !strings.Contains(pol, "allowRoot: false") || !strings.Contains(pol, "/var/run") {
		t.Fatalf("policy get:\n%s", pol)
	}
	testutil.WaitFor(t, 30*time.Second, "the audit log shows ci's apply and the policy change", func() (bool, string) {
		out, code := c.orch(t, "", "audit")
		return code == 0 && strings.Contains(out, "POST /v1/apply") && strings.Contains(out, "PUT /v1/policy") &&
			strings.Contains(out, "ci (") && !strings.Contains(out, tok), out
	})
	c.mustOrch(t, "token", "revoke", "ci")
	testutil.WaitFor(t, 30*time.Second, "the revoked token refused", func() (bool, string) {
		out, code := ci.orch(t, "", "get", "tasks")
		return code != 0 && strings.Contains(out, "invalid token"), out
	})
}
