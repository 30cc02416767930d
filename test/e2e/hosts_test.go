package e2e

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orch-project/orch/test/internal/hosts"
)

// The multi-host harness lives in test/internal/hosts (a network namespace,
// veth and dockerd per host); these are the e2e package's bindings to it:
// its processes are e2e procs (output kept for failure messages) and its
// agents are the orchlet built in TestMain, joined to a cluster.

// Signal and Exited make a proc a hosts.Process.
func (p *proc) Signal(sig syscall.Signal) { p.kill(sig) }
func (p *proc) Exited() <-chan struct{}   { return p.done }

func startProc(t testing.TB, env []string, name string, args ...string) hosts.Process {
	return start(t, env, name, args...)
}

// needFleet checks what the harness needs (and Docker with the images).
func needFleet(t *testing.T) {
	t.Helper()
	needDocker(t)
	hosts.Need(t)
}

// newHostFleet creates a fleet with the example images the tests run.
func newHostFleet(t *testing.T) *hosts.Fleet {
	t.Helper()
	needFleet(t)
	return hosts.New(t, startProc, "orch-example/web:latest", "orch-example/job:latest")
}

// startHostAgent runs orchlet on the Docker runtime inside h's namespace,
// joined to c, with extra flags (attributes, capacity).
func startHostAgent(t testing.TB, h *hosts.Host, c *cluster, extra ...string) {
	t.Helper()
	startHostAgentBin(t, h, c, filepath.Join(binDir, "orchlet"), extra...)
}

// startHostAgentBin is startHostAgent with another orchlet binary.
func startHostAgentBin(t testing.TB, h *hosts.Host, c *cluster, bin string, extra ...string) {
	t.Helper()
	args := append([]string{"--server", strings.Join(c.urls, ","), "--join-token", c.cfg.JoinToken,
		"--node-name", h.Name, "--runtime", "docker", "--listen", h.IP + ":0"}, extra...)
	h.StartAgent(t, c.env, bin, args...)
}

// startFleet starts a server on the fleet's bridge and n hosts with agents.
func startFleet(t *testing.T, n int) (*hosts.Fleet, *cluster) {
	t.Helper()
	f := newHostFleet(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", f.ServerAddr(t))
	for range n {
		startHostAgent(t, f.AddHost(t), c)
	}
	waitNodes(t, c, n)
	return f, c
}
