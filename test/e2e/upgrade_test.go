package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/test/internal/hosts"
)

const upgradeManifest = `kind: TaskDefinition
family: upweb
containerDefinitions:
  - name: web
    image: orch-example/web:latest
    imagePullPolicy: never
    memory: 32
    stopTimeout: 2
    environment: [{name: PORT, value: "8080"}]
---
kind: Service
serviceName: upweb
taskDefinition: upweb
desiredCount: 3
`

// buildRelease builds orch and orchlet of git revision rev (from `git
// archive`, so the work tree is left alone) into a temp dir. Unchanged
// packages come from the build cache, so this costs little more than the
// packages the revisions differ in.
func buildRelease(t *testing.T, rev string) (dir, commit string) {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--short", rev+"^{commit}").CombinedOutput()
	if err != nil {
		t.Fatalf("ORCH_UPGRADE_FROM=%s: git rev-parse: %v %s (give a commit of this repository, e.g. HEAD~1)", rev, err, out)
	}
	commit = strings.TrimSpace(string(out))
	dir = t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// From the top of the work tree: in a subdirectory git archive would
	// take only that subdirectory.
	archive := exec.Command("sh", "-c", `cd "$(git rev-parse --show-toplevel)" && git archive --format=tar "$1" | tar -x -C "$2"`, "sh", commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v %s", commit, err, out)
	}
	for _, name := range []string{"orch", "orchlet"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s of %s: %v\n%s", name, commit, err, out)
		}
	}
	os.RemoveAll(src)
	return dir, commit
}

// TestUpgradeOneProcessAtATime runs a cluster on the binaries of an
// earlier commit (ORCH_UPGRADE_FROM, default HEAD~1, the previous commit):
// two servers on an external etcd and two hosts of the multi-host harness,
// a service of 3 tasks and a queue with a producer and a consumer. It then
// replaces the servers, then the agents, one process at a time (SIGTERM,
// start the current binary on the same address or host) and checks that
// nothing was lost or restarted needlessly: the same tasks run in the same
// containers (same ids, same start times), no task stopped, every
// acknowledged send is received and no acknowledged delete comes back.
func TestUpgradeOneProcessAtATime(t *testing.T) {
	needFleet(t)
	from := os.Getenv("ORCH_UPGRADE_FROM")
	if from == "" {
		from = "HEAD~1"
		if out, err := exec.Command("git", "rev-parse", "--verify", "--quiet", from+"^{commit}").CombinedOutput(); err != nil {
			// A shallow clone has no HEAD~1: replace this commit's own
			// binaries one at a time instead, which still checks the
			// procedure (nothing lost or restarted needlessly), though not
			// compatibility with the previous commit.
			t.Logf("this checkout has no HEAD~1 (%v %s): upgrading from HEAD itself; use a full clone or ORCH_UPGRADE_FROM=REV for the previous commit", err, strings.TrimSpace(string(out)))
			from = "HEAD"
		}
	}
	old, commit := buildRelease(t, from)
	l := newEventLog()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("event log:\n%s", l.log())
		}
	})
	etcd := startEtcd(t)
	f := newHostFleet(t)
	c := newCluster(t)
	var addrs []string
	var servers []*proc
	for range 2 {
		addrs = append(addrs, f.ServerAddr(t))
		servers = append(servers, startServerBin(t, c, filepath.Join(old, "orch"), "--etcd-endpoints", etcd, "--listen", addrs[len(addrs)-1]))
	}
	for range 2 {
		startHostAgentBin(t, f.AddHost(t), c, filepath.Join(old, "orchlet"))
	}
	waitNodes(t, c, 2)
	l.event("cluster on %s's binaries: 2 servers, 2 hosts", commit)
	c.mustOrch(t, "apply", "-f", writeFile(t, t.TempDir(), "upgrade.yaml", upgradeManifest))
	testutil.WaitFor(t, 120*time.Second, "upweb: 3 tasks RUNNING", func() (bool, string) {
		_, live := liveOn(t, c, "upweb")
		n := 0
		for _, tk := range live {
			if tk.LastStatus == model.StatusRunning {
				n++
			}
		}
		return n == 3 && len(live) == 3, fmt.Sprintf("%d running of %d live", n, len(live))
	})
	before := containerStarts(t, f)
	t.Logf("before the upgrade: %s", strings.Join(before, ", "))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := startQueueTraffic(ctx, l, c, "upgrade-"+f.ID)
	q.waitAcked(t, 50)

	for i := range servers {
		l.event("server %d: SIGTERM %s's orch", i, commit)
		servers[i].kill(syscall.SIGTERM)
		servers[i].wait(t, 60*time.Second)
		servers[i] = start(t, c.env, "orch", "server", "--etcd-endpoints", etcd, "--listen", addrs[i])
		waitHealthy(t, c.urls[i], servers[i])
		l.event("server %d: the current orch is healthy", i)
		q.waitAcked(t, 25) // traffic flows through the mixed cluster
	}
	for _, h := range f.Hosts {
		l.event("%s: SIGTERM %s's orchlet", h.Name, commit)
		h.Agent.Signal(syscall.SIGTERM)
		select {
		case <-h.Agent.Exited():
		case <-time.After(60 * time.Second):
			t.Fatalf("%s's orchlet did not exit within 60s of SIGTERM", h.Name)
		}
		startHostAgent(t, h, c)
		l.event("%s: the current orchlet started", h.Name)
		waitNodes(t, c, 2)
		q.waitAcked(t, 25)
	}
	// Each agent reconnected; give the control plane a moment to have
	// seen both register (their heartbeats renew the same leases).
	testutil.WaitFor(t, 60*time.Second, "both nodes alive on the current orchlet", func() (bool, string) {
		nodes, err := c.admin.ListNodes(context.Background())
		if err != nil {
			return false, err.Error()
		}
		var s []string
		ok := 0
		for _, n := range nodes {
			if n.Alive {
				ok++
			}
			s = append(s, fmt.Sprintf("%s alive=%v", n.Name, n.Alive))
		}
		return ok == 2, strings.Join(s, ", ")
	})
	q.stop()
	q.check()

	// Nothing restarted: the same tasks in the same containers, started
	// at the same time; no task of the run stopped.
	after := containerStarts(t, f)
	if strings.Join(after, ", ") != strings.Join(before, ", ") {
		l.violate("containers changed across the upgrade:\nbefore %s\nafter  %s", strings.Join(before, ", "), strings.Join(after, ", "))
	}
	tasks, err := c.admin.ListTasks(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if tk.IsStopped() {
			l.violate("task %s stopped during the upgrade: %s %q", tk.TaskID, tk.StopCode, tk.StoppedReason)
		} else if tk.LastStatus != model.StatusRunning {
			l.violate("task %s is %s after the upgrade, want RUNNING", tk.TaskID, tk.LastStatus)
		}
	}
	if len(tasks) != 3 {
		l.violate("%d tasks after the upgrade, want the same 3", len(tasks))
	}
	if v := l.violations(); len(v) > 0 {
		t.Fatalf("upgrade from %s: %d problem(s):\n%s", commit, len(v), strings.Join(v, "\n"))
	}
	t.Logf("upgraded from %s one process at a time: the same 3 containers ran throughout; %s", commit, q.summary())
}

// containerStarts lists host/task/container@startedAt for every orch
// container running in the fleet, sorted.
func containerStarts(t *testing.T, f *hosts.Fleet) []string {
	t.Helper()
	var out []string
	for _, h := range f.Hosts {
		for _, ct := range h.RunningContainers(t) {
			b, err := h.Docker("inspect", "-f", "{{.State.StartedAt}}", ct.ID)
			if err != nil {
				t.Fatalf("docker inspect %s on %s: %v %s", ct.ID, h.Name, err, b)
			}
			out = append(out, fmt.Sprintf("%s/%s/%s@%s", h.Name, ct.Task, ct.ID, strings.TrimSpace(string(b))))
		}
	}
	sort.Strings(out)
	return out
}
