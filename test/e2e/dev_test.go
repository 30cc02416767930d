package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/clientconfig"
)

// TestOrchDevOneCommandCluster starts `orch dev`, runs a real container
// and a service, and checks that Ctrl-C (SIGINT) stops and removes every
// container it started without the service replacing any on the way out,
// and that the terminal gets what the user needs while logs go to a file.
func TestOrchDevOneCommandCluster(t *testing.T) {
	needDocker(t)
	c := newCluster(t)
	addr := freeAddr(t)
	node := fmt.Sprintf("e2e-dev-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	dev := start(t, c.env, "orch", "dev", "--listen", addr, "--data-dir", t.TempDir(), "--node-name", node)
	waitHealthy(t, "https://"+addr, dev)
	c.urls = []string{"https://" + addr}
	// The config is written right after the listener starts: wait for it.
	testutil.WaitFor(t, 60*time.Second, "the client config orch dev writes", func() (bool, string) {
		f, err := clientconfig.Load(c.config)
		if err != nil || f.Token == "" {
			return false, fmt.Sprintf("%s: %v", c.config, err)
		}
		c.cfg = f
		return true, ""
	})
	c.admin = c.newClient(c.cfg.Token)
	waitNodes(t, c, 1)
	if out := dev.Output(); !strings.Contains(out, "local agent: node "+node) || !strings.Contains(out, "orch apply -f") ||
		!strings.Contains(out, "dashboard: https://"+addr+"/ui ") {
		t.Fatalf("orch dev should say how to talk to it; printed:\n%s", out)
	}
	applyJSON(t, c, `{"family":"e2edev","containerDefinitions":[{"name":"web","image":"orch-example/web:latest","memory":32}]}`)
	id := runOne(t, c, "e2edev")
	waitTask(t, c, id, 60*time.Second, running)
	c.mustOrch(t, "apply", "-f", writeFile(t, t.TempDir(), "svc.yaml",
		"kind: Service\nserviceName: e2edevsvc\ntaskDefinition: e2edev\ndesiredCount: 2\n"), "--wait")
	testutil.WaitFor(t, 60*time.Second, "3 containers running", func() (bool, string) {
		n := len(nodeContainers(t, node, true))
		return n == 3, fmt.Sprintf("%d running", n)
	})
	dev.kill(syscall.SIGINT)
	if code := dev.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("orch dev exited %d after Ctrl-C:\n%s", code, dev.Output())
	}
	out := dev.Output()
	if n := len(nodeContainers(t, node, false)); n != 0 || !strings.Contains(out, "stopped and removed 3 containers") {
		t.Fatalf("%d containers left after orch dev stopped, want 0, and it should say it removed exactly 3 (none replaced on the way out):\n%s", n, out)
	}
	if strings.Contains(out, "level=") || !strings.Contains(out, "server and agent logs: ") {
		t.Fatalf("orch dev's terminal should name its log file and carry no log lines:\n%s", out)
	}
}
