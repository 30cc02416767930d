package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
)

// TestBackupAndRestore follows docs/operations.md: snapshot a running
// cluster's etcd with etcdctl, lose everything, restore the snapshot into a
// fresh etcd, start a fresh orch server and agent on it, and check that the
// service comes back to its desired count with the same credentials.
func TestBackupAndRestore(t *testing.T) {
	if _, err := exec.LookPath("etcdctl"); err != nil {
		t.Fatalf("etcdctl is not installed: apt-get install -y etcd-client (.ci/run does it)")
	}
	ep := startEtcd(t)
	c := newCluster(t)
	srv := startServer(t, c, "--etcd-endpoints", ep)
	c.startAgent(t, "bk-node", "--runtime", "fake")
	waitNodes(t, c, 1)
	c.mustOrch(t, "apply", "-f", writeFile(t, t.TempDir(), "svc.yaml", `kind: TaskDefinition
family: bk
containerDefinitions: [{name: a, image: fake, memory: 16}]
---
kind: Service
serviceName: bk
taskDefinition: bk
desiredCount: 2
`))
	waitServiceRunning(t, c, "bk", "bk-node", 2)

	snap := filepath.Join(t.TempDir(), "orch.snapshot")
	if out, err := exec.Command("etcdctl", "--endpoints", ep, "snapshot", "save", snap).CombinedOutput(); err != nil {
		t.Fatalf("etcdctl snapshot save: %v %s", err, out)
	}
	// Lose the whole control plane (the etcd process and its data too).
	srv.kill(syscall.SIGKILL)
	for _, p := range c.procs {
		p.kill(syscall.SIGKILL)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	client, peer := freeAddr(t), freeAddr(t)
	if out, err := exec.Command("etcdctl", "snapshot", "restore", snap, "--name", "restored", "--data-dir", restored,
		"--initial-cluster", "restored=http://"+peer, "--initial-advertise-peer-urls", "http://"+peer).CombinedOutput(); err != nil {
		t.Fatalf("etcdctl snapshot restore: %v %s", err, out)
	}
	p := start(t, nil, "etcd", "--name", "restored", "--data-dir", restored,
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "restored=http://"+peer, "--log-level", "warn")
	testutil.WaitFor(t, 30*time.Second, "restored etcd healthy", func() (bool, string) {
		resp, err := http.Get("http://" + client + "/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, p.Output()
	})
	// A fresh server on the restored etcd: the old client config (tokens)
	// still works, and a new agent with the old join token registers.
	c2 := &cluster{config: c.config, env: c.env, cfg: c.cfg}
	startServer(t, c2, "--etcd-endpoints", "http://"+client)
	if !strings.Contains(c2.mustOrch(t, "get", "services"), "bk") {
		t.Fatal("service bk is missing after the restore")
	}
	// The old host is gone with the old cluster: its node's lease runs
	// out, and the service's tasks come back on the new host.
	c2.startAgent(t, "bk-node2", "--runtime", "fake")
	waitServiceRunning(t, c2, "bk", "bk-node2", 2)
	if _, err := os.Stat(snap); err != nil {
		t.Fatal(err)
	}
}

// waitServiceRunning waits until the service has n RUNNING tasks on node
// and no other live task.
func waitServiceRunning(t *testing.T, c *cluster, name, node string, n int) {
	t.Helper()
	testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("service %s with %d RUNNING tasks", name, n), func() (bool, string) {
		svc, tasks, err := c.admin.GetService(t.Context(), name)
		if err != nil {
			return false, err.Error()
		}
		running, live := 0, 0
		for _, tk := range tasks {
			if !tk.IsStopped() {
				live++
				if tk.LastStatus == model.StatusRunning && tk.NodeName == node {
					running++
				}
			}
		}
		return running == n && live == n && svc.RunningCount == n, fmt.Sprintf("%d running on %s, %d live, service says %d", running, node, live, svc.RunningCount)
	})
}
