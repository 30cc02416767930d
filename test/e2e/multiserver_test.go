package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// startEtcd runs Debian's etcd (an external etcd 3.4) on free ports.
func startEtcd(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Fatalf("etcd is not installed: apt-get install -y etcd-server (.ci/run does it)")
	}
	client, peer := freeAddr(t), freeAddr(t)
	p := start(t, nil, "etcd", "--name", "e2e", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "e2e=http://"+peer, "--log-level", "warn")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + client + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + client
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("etcd did not start:\n%s", p.Output())
	return ""
}

func isLeader(url string) bool {
	resp, err := probeHTTP.Get(url + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct{ Leader bool }
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return h.Leader
}

// TestTwoServersOneExternalEtcd runs two orch server processes on one
// external etcd, starts tasks through both at once, kills the leader with
// SIGKILL mid-way, and checks that no task is placed twice and no node is
// over-committed.
func TestTwoServersOneExternalEtcd(t *testing.T) {
	etcd := startEtcd(t)
	c := newCluster(t)
	a := startServer(t, c, "--etcd-endpoints", etcd)
	startServer(t, c, "--etcd-endpoints", etcd)
	ctx := context.Background()

	// Three nodes with room for exactly 8 tasks of 128 cpu units each.
	agentClient := c.clientFor(append([]string(nil), c.urls...), c.cfg.JoinToken)
	var agents []*testutil.HandAgent
	for i := range 3 {
		agents = append(agents, testutil.StartHandAgent(t, agentClient, fmt.Sprintf("n%d", i), 1024, 8192, nil))
	}
	spec := []byte(`{"family":"w","cpu":"128","containerDefinitions":[{"name":"a","image":"fake","memory":16}]}`)
	if _, err := c.admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
		t.Fatal(err)
	}
	perServer := []*client.Client{
		c.clientFor([]string{c.urls[0]}, c.cfg.Token),
		c.clientFor([]string{c.urls[1]}, c.cfg.Token),
	}
	run := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if _, err := perServer[i%2].RunTask(ctx, wire.RunTaskInput{TaskDefinition: "w"}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	run(14)
	leader := 0
	if !isLeader(c.urls[0]) {
		leader = 1
	}
	c.procs[leader].kill(syscall.SIGKILL)
	survivor := perServer[1-leader]
	_ = a
	// The survivor keeps answering; its controller takes over when the
	// dead leader's etcd session expires.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := survivor.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "w"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	var tasks []*model.Task
	testutil.WaitFor(t, 60*time.Second, "24 tasks placed, 6 explained", func() (bool, string) {
		var err error
		tasks, err = survivor.ListTasks(ctx, nil)
		if err != nil {
			return false, err.Error()
		}
		placed, explained := 0, 0
		for _, tk := range tasks {
			if tk.NodeName != "" {
				placed++
			} else if tk.PlacementMessage != "" {
				explained++
			}
		}
		return len(tasks) == 30 && placed == 24 && explained == 6, fmt.Sprintf("%d tasks, %d placed, %d explained", len(tasks), placed, explained)
	})
	perNode := map[string]int{}
	for _, tk := range tasks {
		if tk.NodeName != "" {
			perNode[tk.NodeName]++
		}
	}
	for node, n := range perNode {
		if n > 8 {
			t.Fatalf("node %s holds %d tasks of 128 cpu units in 1024: over-committed", node, n)
		}
	}
	// Each task reaches exactly one agent; the assignment streams may
	// deliver a moment after the placements are visible through the API.
	testutil.WaitFor(t, 60*time.Second, "24 tasks reached agents", func() (bool, string) {
		seen := map[string]string{}
		for _, ag := range agents {
			for _, id := range ag.Assigned() {
				if other, dup := seen[id]; dup {
					t.Fatalf("task %s assigned to both %s and %s", id, other, ag.Name)
				}
				seen[id] = ag.Name
			}
		}
		return len(seen) == 24, fmt.Sprintf("%d tasks reached agents", len(seen))
	})
}
