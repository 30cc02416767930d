package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// replaceWithin is the promise with the default liveness settings.
const replaceWithin = 15 * time.Second

// lossNode is a real agent on the fake runtime whose link to the control
// plane runs through a proxy the test can cut.
type lossNode struct {
	name  string
	rt    *fake.Runtime
	proxy *testutil.CutProxy
}

func startLossNode(t *testing.T, cp *testutil.ControlPlane, name string) *lossNode {
	t.Helper()
	u, err := url.Parse(cp.URL)
	if err != nil {
		t.Fatal(err)
	}
	n := &lossNode{name: name, rt: fake.New(fake.Config{CPU: 4096, MemoryMiB: 8192, Images: []string{"fake"}}),
		proxy: testutil.StartCutProxy(t, u.Host)}
	ag, err := agent.New(agent.Config{NodeName: name, Runtime: n.rt, Logger: testutil.Logger(), StatsInterval: -1,
		ControlPlane: client.New(client.Config{Servers: []string{"http://" + n.proxy.Addr}, Token: cp.Bootstrap.JoinToken})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = ag.Run(ctx) })
	t.Cleanup(func() { n.proxy.Heal(); cancel(); wg.Wait() })
	waitAlive(t, cp, name, true)
	return n
}

func waitAlive(t *testing.T, cp *testutil.ControlPlane, name string, want bool) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("node %s alive=%v", name, want), func() (bool, string) {
		ns, err := cp.Admin.ListNodes(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, n := range ns {
			if n.Name == name {
				return n.Alive == want, fmt.Sprintf("alive=%v", n.Alive)
			}
		}
		return false, "not registered"
	})
}

// running returns the task ids with a running container on the node.
func (n *lossNode) running(t *testing.T) []string {
	t.Helper()
	states, err := n.rt.List(context.Background(), map[string]string{runtime.LabelNode: n.name})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range states {
		if s.Status == runtime.StatusRunning {
			ids = append(ids, s.Labels[runtime.LabelTask])
		}
	}
	sort.Strings(ids)
	return ids
}

func applyDocs(t *testing.T, c *client.Client, docs ...string) {
	t.Helper()
	var req []wire.ApplyDocument
	for _, d := range docs {
		kind, spec, _ := strings.Cut(d, " ")
		req = append(req, wire.ApplyDocument{Kind: kind, Spec: json.RawMessage(spec)})
	}
	if _, err := c.Apply(context.Background(), req); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// serviceTasks returns the service's tasks that are not stopped.
func serviceTasks(t *testing.T, c *client.Client, name string) []*model.Task {
	t.Helper()
	_, tasks, err := c.GetService(context.Background(), name)
	if err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	var live []*model.Task
	for _, tk := range tasks {
		if !tk.IsStopped() {
			live = append(live, tk)
		}
	}
	return live
}

func describe(tasks []*model.Task) string {
	var s []string
	for _, tk := range tasks {
		s = append(s, fmt.Sprintf("%s on %s %s/%s", tk.TaskID[:8], tk.NodeName, tk.DesiredStatus, tk.LastStatus))
	}
	return strings.Join(s, ", ")
}

// TestNodeLossWithDefaults cuts one node off the control plane with the
// default liveness settings and checks what a user sees: its service tasks
// run again on another node within 15 s, its standalone task is stopped as
// NodeLost with a reason saying it is lost, its containers keep running
// while it is away, and when the network comes back it stops its stale
// copies so the service runs exactly its desired count.
func TestNodeLossWithDefaults(t *testing.T) {
	cp := testutil.StartServer(t, func(o *server.Config) { o.NodeLostGrace = 0; o.NodeTTL = 0 }) // the defaults
	ctx := context.Background()
	a := startLossNode(t, cp, "a")
	applyDocs(t, cp.Admin,
		`TaskDefinition {"family":"web","containerDefinitions":[{"name":"app","image":"fake","memory":64,"stopTimeout":1}]}`,
		`Service {"serviceName":"web","taskDefinition":"web","desiredCount":2,"deploymentConfiguration":{"minimumHealthyPercent":100,"maximumPercent":200}}`)
	solo, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitTask(t, cp.Admin, solo[0].TaskID, 20*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning })
	var before []*model.Task
	testutil.WaitFor(t, 20*time.Second, "service web running on a", func() (bool, string) {
		before = serviceTasks(t, cp.Admin, "web")
		n := 0
		for _, tk := range before {
			if tk.LastStatus == model.StatusRunning && tk.NodeName == "a" {
				n++
			}
		}
		return n == 2 && len(before) == 2, describe(before)
	})
	b := startLossNode(t, cp, "b")

	cut := time.Now()
	a.proxy.Cut()
	stale := map[string]bool{before[0].TaskID: true, before[1].TaskID: true}
	testutil.WaitFor(t, replaceWithin, "two replacements RUNNING on b", func() (bool, string) {
		now := serviceTasks(t, cp.Admin, "web")
		n := 0
		for _, tk := range now {
			if tk.LastStatus == model.StatusRunning && tk.NodeName == "b" && !stale[tk.TaskID] {
				n++
			}
		}
		return n == 2, describe(now)
	})
	t.Logf("service tasks RUNNING on another node %s after the cut", time.Since(cut).Round(time.Millisecond))

	got, err := cp.Admin.GetTask(ctx, solo[0].TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DesiredStatus != model.StatusStopped || got.StopCode != model.StopNodeLost ||
		!strings.Contains(got.StoppedReason, "a stopped heartbeating") || !strings.Contains(got.StoppedReason, "lost") {
		t.Fatalf("standalone task: desired %s stop %s %q, want STOPPED NodeLost saying the task is lost", got.DesiredStatus, got.StopCode, got.StoppedReason)
	}
	for id := range stale {
		tk, err := cp.Admin.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.StopCode != model.StopNodeLost || !strings.Contains(tk.StoppedReason, "replaces") {
			t.Fatalf("replaced task %s: stop %s %q, want NodeLost saying it is replaced", id, tk.StopCode, tk.StoppedReason)
		}
	}
	// Only the network is gone: the node's containers keep running.
	if r := a.running(t); len(r) != 3 {
		t.Fatalf("while cut off, node a runs %v, want its 3 containers still running", r)
	}

	a.proxy.Heal()
	healed := time.Now()
	testutil.WaitFor(t, 20*time.Second, "node a back and its stale copies stopped", func() (bool, string) {
		r := a.running(t)
		return len(r) == 0, fmt.Sprintf("a still runs %v", r)
	})
	t.Logf("stale copies stopped %s after the network came back", time.Since(healed).Round(time.Millisecond))
	waitAlive(t, cp, "a", true)
	if r := b.running(t); len(r) != 2 {
		t.Fatalf("node b runs %v, want the service's 2 replacements", r)
	}
	if now := serviceTasks(t, cp.Admin, "web"); len(now) != 2 {
		t.Fatalf("service web has %d live tasks after healing, want 2: %s", len(now), describe(now))
	}
}

// TestShortCutChangesNothing cuts a node off for less than its lease ttl:
// nothing is replaced or stopped and its tasks keep running.
func TestShortCutChangesNothing(t *testing.T) {
	cp := testutil.StartServer(t, func(o *server.Config) { o.NodeLostGrace = 0; o.NodeTTL = 0 })
	ctx := context.Background()
	a := startLossNode(t, cp, "a")
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	solo, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitTask(t, cp.Admin, solo[0].TaskID, 20*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning })
	a.proxy.Cut()
	time.Sleep(time.Second) // the length of the outage under test, not a wait for a condition
	a.proxy.Heal()
	// Over two lease ttls after the blip the task must stay RUNNING on a.
	deadline := time.Now().Add(2 * server.DefaultNodeTTL)
	for time.Now().Before(deadline) {
		got, err := cp.Admin.GetTask(ctx, solo[0].TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if got.IsStopped() || got.DesiredStatus != model.StatusRunning {
			t.Fatalf("after a 1 s outage the task was stopped: %s %q", got.StopCode, got.StoppedReason)
		}
		if r := a.running(t); len(r) != 1 {
			t.Fatalf("after a 1 s outage node a runs %v, want its task", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDrainAndRemoveNode drains a node with ECS semantics (service tasks
// replaced on another node before the old ones stop, standalone tasks left
// running unless force) and removes it with orch node rm's API.
func TestDrainAndRemoveNode(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	a := startLossNode(t, cp, "a")
	applyDocs(t, cp.Admin,
		`TaskDefinition {"family":"web","containerDefinitions":[{"name":"app","image":"fake","memory":64,"stopTimeout":1}]}`,
		`Service {"serviceName":"web","taskDefinition":"web","desiredCount":2,"deploymentConfiguration":{"minimumHealthyPercent":100,"maximumPercent":200}}`)
	solo, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitTask(t, cp.Admin, solo[0].TaskID, 20*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning })
	testutil.WaitFor(t, 20*time.Second, "service web running", func() (bool, string) {
		now := serviceTasks(t, cp.Admin, "web")
		return len(now) == 2 && now[0].LastStatus == model.StatusRunning && now[1].LastStatus == model.StatusRunning, describe(now)
	})
	b := startLossNode(t, cp, "b")

	if _, stopped, err := cp.Admin.DrainNode(ctx, "a", false); err != nil || len(stopped) != 0 {
		t.Fatalf("drain a: stopped %v, err %v; want nothing stopped", stopped, err)
	}
	// minimumHealthyPercent 100: at every moment at least 2 service
	// containers run, until both run on b and none on a.
	testutil.WaitFor(t, 20*time.Second, "service tasks moved to b", func() (bool, string) {
		ra, rb := a.running(t), b.running(t)
		svcOnA := len(ra) - 1 // the standalone task stays on a
		if svcOnA+len(rb) < 2 {
			t.Fatalf("while draining only %d service containers ran (a %v, b %v), want at least 2", svcOnA+len(rb), ra, rb)
		}
		return svcOnA == 0 && len(rb) == 2, fmt.Sprintf("a runs %v, b runs %v", ra, rb)
	})
	if got, _ := cp.Admin.GetTask(ctx, solo[0].TaskID); got == nil || got.DesiredStatus != model.StatusRunning || got.NodeName != "a" {
		t.Fatalf("standalone task after a drain without force: %+v, want still RUNNING on a", got)
	}

	_, stopped, err := cp.Admin.DrainNode(ctx, "a", true)
	if err != nil || len(stopped) != 1 || stopped[0] != solo[0].TaskID {
		t.Fatalf("drain a with force: stopped %v, err %v; want the standalone task", stopped, err)
	}
	got := testutil.WaitTask(t, cp.Admin, solo[0].TaskID, 20*time.Second, func(tk *model.Task) bool { return tk.IsStopped() })
	if got.StopCode != model.StopUserInitiated || !strings.Contains(got.StoppedReason, "drained with force") {
		t.Fatalf("standalone task stop %s %q, want UserInitiated naming the forced drain", got.StopCode, got.StoppedReason)
	}

	// rm refuses a node that is alive, with a message that says what to do.
	err = cp.Admin.RemoveNode(ctx, "a", false)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 409 || !strings.Contains(err.Error(), "node a is alive") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("rm of a live node: %v, want 409 saying it is alive and how to force", err)
	}
	// Once the host is gone it can be removed.
	a.proxy.Cut()
	waitAlive(t, cp, "a", false)
	if err := cp.Admin.RemoveNode(ctx, "a", false); err != nil {
		t.Fatalf("rm of a lost node: %v", err)
	}
	if _, _, err := cp.Admin.GetNode(ctx, "a"); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("get removed node: %v, want 404", err)
	}
	if err := cp.Admin.RemoveNode(ctx, "b", false); !errors.As(err, &ce) || ce.Status != 409 {
		t.Fatalf("rm of live node b: %v, want 409", err)
	}
	if _, _, err := cp.Admin.DrainNode(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	resp, err := cp.Admin.SetNodeStatus(ctx, "b", "activate?force=maybe")
	if !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(err.Error(), "force") {
		t.Fatalf("bad force value: %v %v, want 400 naming force", resp, err)
	}
}
