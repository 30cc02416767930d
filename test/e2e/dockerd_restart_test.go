package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/test/internal/hosts"
)

// privateDockerd is a second Docker daemon of the test's own (its own data
// root, exec root, socket and bridge) that the test may restart at will.
type privateDockerd struct {
	dir, sock, bridge string
	proc              *proc
}

func (d *privateDockerd) host() string { return "unix://" + d.sock }

func (d *privateDockerd) docker(args ...string) ([]byte, error) {
	return exec.Command("docker", append([]string{"-H", d.host()}, args...)...).CombinedOutput()
}

func (d *privateDockerd) start(t *testing.T) {
	t.Helper()
	d.proc = start(t, nil, "dockerd", "--config-file", filepath.Join(d.dir, "daemon.json"),
		"--data-root", filepath.Join(d.dir, "root"), "--exec-root", filepath.Join(d.dir, "exec"),
		"-H", d.host(), "--pidfile", filepath.Join(d.dir, "docker.pid"), "--bridge", d.bridge,
		"--iptables=false", "--ip-masq=false", "--live-restore")
	testutil.WaitFor(t, 60*time.Second, "private dockerd", func() (bool, string) {
		out, err := d.docker("version", "--format", "{{.Server.Version}}")
		return err == nil, string(out)
	})
}

// stop stops the daemon gracefully (as `systemctl restart docker` does);
// with --live-restore its containers keep running.
func (d *privateDockerd) stop(t *testing.T) {
	t.Helper()
	d.proc.kill(syscall.SIGTERM)
	d.proc.wait(t, 60*time.Second)
}

func startPrivateDockerd(t *testing.T) *privateDockerd {
	t.Helper()
	needDocker(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("a private dockerd needs root")
		}
		t.Skip("a private dockerd needs root; run as root to test Docker daemon restarts")
	}
	dir, err := os.MkdirTemp("", "orch-dockerd")
	if err != nil {
		t.Fatal(err)
	}
	d := &privateDockerd{dir: dir, sock: filepath.Join(dir, "docker.sock"), bridge: fmt.Sprintf("orchbr%d", os.Getpid()%100000)}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"link", "add", d.bridge, "type", "bridge"},
		{"addr", "add", "172.31.251.1/24", "dev", d.bridge},
		{"link", "set", d.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := d.docker("ps", "-aq"); err == nil && len(strings.Fields(string(out))) > 0 {
			d.docker(append([]string{"rm", "-f"}, strings.Fields(string(out))...)...)
		}
		d.proc.kill(syscall.SIGTERM)
		select {
		case <-d.proc.done:
		case <-time.After(30 * time.Second):
		}
		exec.Command("ip", "link", "del", d.bridge).Run()
		hosts.UnmountUnder(dir)
		os.RemoveAll(dir)
	})
	d.start(t)
	// Move the example image over: the private daemon has none and pulls nothing.
	save := exec.Command("docker", "save", "orch-example/web:latest")
	load := exec.Command("docker", "-H", d.host(), "load", "-q")
	pipe, _ := save.StdoutPipe()
	load.Stdin = pipe
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("docker load into the private daemon: %v %s", err, out)
	}
	save.Wait()
	return d
}

// TestDockerDaemonRestart restarts the Docker daemon under a running agent:
// the container keeps running (live restore), the agent reconnects to the
// event stream with backoff, re-syncs, and keeps controlling its tasks.
func TestDockerDaemonRestart(t *testing.T) {
	d := startPrivateDockerd(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	node := fmt.Sprintf("e2e-dockerd-%d", time.Now().UnixNano()%1e9)
	agentEnv := append(append([]string(nil), c.env...), "DOCKER_HOST="+d.host())
	agent := start(t, agentEnv, "orchlet", "--server", c.urls[0], "--join-token", c.cfg.JoinToken, "--node-name", node, "--runtime", "docker")
	waitNodes(t, c, 1)
	applyJSON(t, c, `{"family":"e2edockerd","containerDefinitions":[{"name":"web","image":"orch-example/web:latest","memory":32}]}`)
	id := runOne(t, c, "e2edockerd")
	before := waitTask(t, c, id, 60*time.Second, running).Containers[0].RuntimeID

	d.stop(t)
	// While the daemon is down the task stays RUNNING: nothing stopped it.
	if got := waitTask(t, c, id, 5*time.Second, func(*model.Task) bool { return true }); got.LastStatus != model.StatusRunning {
		t.Fatalf("task %s while dockerd is down, want RUNNING", got.LastStatus)
	}
	testutil.WaitFor(t, 30*time.Second, "the agent noticed the daemon going away", func() (bool, string) {
		return strings.Contains(agent.Output(), "runtime event stream broke"), tail(agent.Output(), 5)
	})
	d.start(t)
	// The same container still runs, and the agent still controls it.
	if got := waitTask(t, c, id, 60*time.Second, running); got.Containers[0].RuntimeID != before {
		t.Fatalf("container changed across the daemon restart: %s -> %s", before[:12], got.Containers[0].RuntimeID[:12])
	}
	next := runOne(t, c, "e2edockerd")
	waitTask(t, c, next, 60*time.Second, running)
	c.mustOrch(t, "stop", id)
	if got := waitTask(t, c, id, 30*time.Second, stopped); got.StopCode != model.StopUserInitiated {
		t.Fatalf("stop after the daemon restart: %s %q", got.StopCode, got.StoppedReason)
	}
	if out, _ := d.docker("inspect", "-f", "{{.State.Running}}", before); strings.TrimSpace(string(out)) != "false" {
		t.Fatalf("container %s still running after its task stopped: %s", before[:12], out)
	}
}
