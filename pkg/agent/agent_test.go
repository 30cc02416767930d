package agent

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// containerIDs maps "task/container" to the runtime id of every managed
// container of node-1, and counts the running ones.
func containerIDs(t *testing.T, rt runtime.Runtime) (map[string]string, int) {
	t.Helper()
	states, err := rt.List(context.Background(), map[string]string{runtime.LabelNode: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	ids, running := map[string]string{}, 0
	for _, st := range states {
		key := st.Labels[runtime.LabelTask] + "/" + st.Labels[runtime.LabelContainer]
		if _, dup := ids[key]; dup {
			t.Errorf("duplicate container %s", key)
		}
		ids[key] = st.ID
		if st.Status == runtime.StatusRunning {
			running++
		}
	}
	return ids, running
}

func countOps(journal []string, op string) int {
	n := 0
	for _, e := range journal {
		if strings.HasPrefix(e, op+" ") {
			n++
		}
	}
	return n
}

func TestRegister(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	rt.SetCapacity(2048, 3000)
	h := startAgent(t, rt, cp, func(c *Config) {
		c.Capacity.MemoryMiB = 1000
		c.Attributes = map[string]string{"zone": "a", "os": "spoofed"}
	})
	cp.waitFor(t, func() string { return "register" }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return len(cp.registers) > 0
	})
	cp.mu.Lock()
	req := cp.registers[0]
	cp.mu.Unlock()
	if req.Name != "node-1" || req.Capacity != (model.Resources{CPU: 2048, MemoryMiB: 1000}) || req.Runtime != "fake" {
		t.Errorf("request %+v", req)
	}
	if req.Attributes["zone"] != "a" || req.Attributes[model.AttrOS] == "spoofed" || req.Attributes[model.AttrNodeName] != "node-1" ||
		req.Attributes[model.AttrArch] == "" || req.Attributes[model.AttrHostname] == "" {
		t.Errorf("attributes %v", req.Attributes)
	}
	if req.CallbackToken == "" || req.CallbackToken != h.a.CallbackToken() || req.Address != h.a.Addr() {
		t.Errorf("token %q address %q (listening on %q)", req.CallbackToken, req.Address, h.a.Addr())
	}
	_, port, _ := strings.Cut(h.a.Addr(), ":")
	if !slices.Contains(req.ReservedPorts, "tcp/"+port) {
		t.Errorf("reserved ports %v lack the agent's own port %s", req.ReservedPorts, port)
	}
	cp.waitFor(t, func() string { return "heartbeats" }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return cp.heartbeats >= 2
	})
}

func TestUnauthorizedRegisterEndsRun(t *testing.T) {
	cp := newFakeCP()
	cp.registerErr = fmt.Errorf("POST /v1/agent/register: 401 Unauthorized: %w", wire.ErrUnauthorized)
	h := startAgent(t, newRuntime(), cp)
	select {
	case err := <-h.done:
		h.done <- err
		if !errors.Is(err, wire.ErrUnauthorized) || !strings.Contains(err.Error(), "join token") {
			t.Fatalf("Run returned %v, want a clear ErrUnauthorized", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a 401")
	}
}

func TestRegisterRetriesWhileUnreachable(t *testing.T) {
	cp := newFakeCP()
	cp.setDown(errUnreachable)
	h := startAgent(t, newRuntime(), cp)
	cp.waitFailures(t, 3)
	select {
	case err := <-h.done:
		t.Fatalf("Run returned %v while the control plane was unreachable", err)
	default:
	}
	cp.setDown(nil)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
}

func TestReRegisterOnUnknownNode(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	startAgent(t, rt, cp)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	before, _ := containerIDs(t, rt)
	cp.mu.Lock()
	cp.hbErrs = []error{fmt.Errorf("heartbeat: 404: %w", wire.ErrUnknownNode)}
	cp.mu.Unlock()
	cp.waitFor(t, func() string { return "second register and stream" }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return len(cp.registers) >= 2 && cp.opened >= 2
	})
	// A task put after re-registering runs, and nothing was restarted.
	task2, def2 := newTask("node-1", ctrDef("app", ""))
	cp.run(task2, def2)
	cp.waitStatus(t, task2.TaskID, model.StatusRunning)
	after, _ := containerIDs(t, rt)
	if after[task.TaskID+"/app"] != before[task.TaskID+"/app"] || countOps(rt.Journal(), "stop") != 0 {
		t.Errorf("containers changed across re-register: %v -> %v", before, after)
	}
}

func TestAgentRestartAdoptsContainers(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h1 := startAgent(t, rt, cp)
	web, webDef := newTask("node-1", ctrDef("web", ""), ctrDef("sidecar", "", dependsOn("web", model.DependStart)))
	job, jobDef := newTask("node-1", ctrDef("job", ""))
	doomed, doomedDef := newTask("node-1", ctrDef("app", ""))
	for _, tk := range []struct {
		t model.Task
		d model.TaskDefinition
	}{{web, webDef}, {job, jobDef}, {doomed, doomedDef}} {
		cp.run(tk.t, tk.d)
	}
	for _, id := range []string{web.TaskID, job.TaskID, doomed.TaskID} {
		cp.waitStatus(t, id, model.StatusRunning)
	}
	if err := h1.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	before, running := containerIDs(t, rt)
	if running != 4 {
		t.Fatalf("%d containers running after the agent stopped, want all 4 (an agent exit must not stop containers)", running)
	}
	creates := countOps(rt.Journal(), "create")

	// While the agent is down: a stray container from a task the control
	// plane no longer assigns, and a task the user stops.
	ctx := context.Background()
	strayID, err := rt.Create(ctx, runtime.ContainerSpec{Name: "orch-fam-old-gone", Image: "fake/app:1", Labels: map[string]string{
		runtime.LabelManaged: "true", runtime.LabelNode: "node-1", runtime.LabelTask: "gone", runtime.LabelContainer: "old",
	}})
	if err != nil {
		t.Fatal(err)
	}
	_ = rt.Start(ctx, strayID)
	otherNode, _ := rt.Create(ctx, runtime.ContainerSpec{Name: "orch-other-node", Image: "fake/app:1", Labels: map[string]string{
		runtime.LabelManaged: "true", runtime.LabelNode: "node-2", runtime.LabelTask: "theirs",
	}})
	_ = rt.Start(ctx, otherNode)
	cp.stop(doomed.TaskID, model.StopUserInitiated, "stopped while the agent was down")

	cp.mu.Lock()
	batchesBefore := len(cp.batches)
	cp.mu.Unlock()
	startAgent(t, rt, cp)
	got := cp.waitStatus(t, doomed.TaskID, model.StatusStopped)
	if got.StopCode != model.StopUserInitiated || exitCode(ctrOf(got, "app")) != 143 {
		t.Errorf("stopped task: %s", describe(&got))
	}
	eventually(t, "stray container removed", func() bool {
		_, err := rt.Inspect(ctx, strayID)
		return errors.Is(err, runtime.ErrNotFound)
	})
	// The new agent re-reports the tasks it adopted.
	cp.waitFor(t, func() string { return "re-reports" }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		for _, b := range cp.batches[batchesBefore:] {
			for _, r := range b {
				if r.TaskID == job.TaskID && r.LastStatus == model.StatusRunning {
					return true
				}
			}
		}
		return false
	})
	after, running := containerIDs(t, rt)
	for _, key := range []string{web.TaskID + "/web", web.TaskID + "/sidecar", job.TaskID + "/job"} {
		if after[key] == "" || after[key] != before[key] {
			t.Errorf("%s: container id %q after restart, want the adopted %q", key, after[key], before[key])
		}
	}
	if running != 3 {
		t.Errorf("%d containers running, want 3", running)
	}
	if n := countOps(rt.Journal(), "create"); n != creates+2 { // only the stray and the other node's
		t.Errorf("%d creates after restart, want none", n-creates-2)
	}
	if st, err := rt.Inspect(ctx, otherNode); err != nil || st.Status != runtime.StatusRunning {
		t.Errorf("another node's container was touched: %+v %v", st, err)
	}
	for _, id := range []string{web.TaskID, job.TaskID} {
		if tk := cp.task(id); tk.LastStatus != model.StatusRunning {
			t.Errorf("task %s: %s", id, describe(&tk))
		}
	}
}

func TestAdoptedTaskWhoseContainerExitedWhileAgentWasDown(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h1 := startAgent(t, rt, cp)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	got := cp.waitStatus(t, task.TaskID, model.StatusRunning)
	_ = h1.stop()
	if err := rt.Exit(ctrOf(got, "app").RuntimeID, 2); err != nil {
		t.Fatal(err)
	}
	startAgent(t, rt, cp)
	got = cp.waitStatus(t, task.TaskID, model.StatusStopped)
	if got.StopCode != model.StopEssentialContainerExited || exitCode(ctrOf(got, "app")) != 2 {
		t.Errorf("got %s", describe(&got))
	}
	if n := countOps(rt.Journal(), "start"); n != 1 {
		t.Errorf("%d starts, want 1 (never restart)", n)
	}
}

func TestControlPlaneUnreachableLeavesContainersAlone(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	startAgent(t, rt, cp)
	steady, steadyDef := newTask("node-1", ctrDef("app", ""))
	crash, crashDef := newTask("node-1", ctrDef("app", ""))
	cp.run(steady, steadyDef)
	cp.run(crash, crashDef)
	cp.waitStatus(t, steady.TaskID, model.StatusRunning)
	crashTask := cp.waitStatus(t, crash.TaskID, model.StatusRunning)
	before, _ := containerIDs(t, rt)
	cp.mu.Lock()
	opened := cp.opened
	cp.mu.Unlock()

	cp.setDown(errUnreachable)
	// While unreachable, one container crashes: the agent still handles it
	// and the report is delivered once the control plane is back.
	cp.waitFailures(t, 5) // heartbeats and reconnects fail
	if err := rt.Exit(ctrOf(crashTask, "app").RuntimeID, 9); err != nil {
		t.Fatal(err)
	}
	cp.waitFailures(t, 5)
	if _, running := containerIDs(t, rt); running != 1 {
		t.Fatalf("%d containers running while the control plane is down, want 1", running)
	}
	cp.setDown(nil)
	got := cp.waitStatus(t, crash.TaskID, model.StatusStopped)
	if exitCode(ctrOf(got, "app")) != 9 || got.StopCode != model.StopEssentialContainerExited {
		t.Errorf("crashed task: %s", describe(&got))
	}
	cp.waitFor(t, func() string { return "stream reopened" }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return cp.opened > opened
	})
	after, running := containerIDs(t, rt)
	if after[steady.TaskID+"/app"] != before[steady.TaskID+"/app"] || running != 1 {
		t.Errorf("steady task's container changed: %v -> %v (running %d)", before, after, running)
	}
	if tk := cp.task(steady.TaskID); tk.LastStatus != model.StatusRunning {
		t.Errorf("steady task: %s", describe(&tk))
	}
	// New work starts again.
	fresh, freshDef := newTask("node-1", ctrDef("app", ""))
	cp.run(fresh, freshDef)
	cp.waitStatus(t, fresh.TaskID, model.StatusRunning)
}

func TestRuntimeEventStreamBreakResyncs(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	startAgent(t, rt, cp)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	got := cp.waitStatus(t, task.TaskID, model.StatusRunning)
	// The daemon goes away; the container dies while nobody listens (its
	// event is lost); the daemon comes back.
	rt.SetDown(errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock"))
	if err := rt.Exit(ctrOf(got, "app").RuntimeID, 4); err != nil {
		t.Fatal(err)
	}
	rt.SetDown(nil)
	got = cp.waitStatus(t, task.TaskID, model.StatusStopped)
	if exitCode(ctrOf(got, "app")) != 4 || got.StopCode != model.StopEssentialContainerExited {
		t.Errorf("got %s", describe(&got))
	}
}

func TestStoppedContainersRemovedAfterRetention(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	const retention = 200 * time.Millisecond
	startAgent(t, rt, cp, func(c *Config) { c.StoppedRetention = retention })
	task, def := newTask("node-1", ctrDef("app", "run_for=10ms"))
	cp.run(task, def)
	got := cp.waitStatus(t, task.TaskID, model.StatusStopped)
	if ids, _ := containerIDs(t, rt); ids[task.TaskID+"/app"] == "" && time.Since(*got.StoppedAt) < retention {
		t.Fatal("container removed before the retention elapsed")
	}
	eventually(t, "container removed after the retention", func() bool {
		ids, _ := containerIDs(t, rt)
		return len(ids) == 0
	})
	// The stopped task is not started again by later snapshots.
	cp.setDown(errUnreachable)
	cp.setDown(nil)
	cp.waitFor(t, func() string { return "stream reopened" }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return cp.opened >= 2
	})
	// The stream delivers in order: once a later task runs, the snapshot
	// with the stopped one was applied.
	next, nextDef := newTask("node-1", ctrDef("app", ""))
	cp.run(next, nextDef)
	cp.waitStatus(t, next.TaskID, model.StatusRunning)
	if n := countOps(rt.Journal(), "start"); n != 2 {
		t.Errorf("%d starts, want 2 (the stopped task must not start again)", n)
	}
}

func TestDeletedTaskIsStoppedAndRemoved(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h := startAgent(t, rt, cp)
	task, def := newTask("node-1", ctrDef("app", ""), ctrDef("side", ""))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	cp.remove(task.TaskID)
	eventually(t, "containers removed", func() bool {
		ids, _ := containerIDs(t, rt)
		return len(ids) == 0
	})
	eventually(t, "task forgotten", func() bool {
		h.a.mu.Lock()
		defer h.a.mu.Unlock()
		return len(h.a.tasks) == 0
	})
}

func TestStopAll(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h := startAgent(t, rt, cp)
	var ids []string
	for range 3 {
		task, def := newTask("node-1", ctrDef("app", ""), ctrDef("side", "", nonEssential))
		cp.run(task, def)
		ids = append(ids, task.TaskID)
	}
	for _, id := range ids {
		cp.waitStatus(t, id, model.StatusRunning)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.a.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, running := containerIDs(t, rt); running != 0 {
		t.Errorf("%d containers still running after StopAll", running)
	}
	for _, id := range ids {
		got := cp.waitStatus(t, id, model.StatusStopped)
		if got.StopCode != model.StopUserInitiated || exitCode(ctrOf(got, "app")) != 143 {
			t.Errorf("task %s", describe(&got))
		}
	}
	// A task assigned afterwards is not started.
	late, lateDef := newTask("node-1", ctrDef("app", ""))
	cp.run(late, lateDef)
	cp.waitStatus(t, late.TaskID, model.StatusStopped)
	if n := countOps(rt.Journal(), "start"); n != 6 {
		t.Errorf("%d starts, want 6", n)
	}
}

func TestStopAllAfterRunReturned(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h := startAgent(t, rt, cp)
	task, def := newTask("node-1", ctrDef("app", "", stopTimeout(7)))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	_ = h.stop()
	if err := h.a.StopAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, running := containerIDs(t, rt); running != 0 {
		t.Errorf("%d containers still running", running)
	}
}

// TestRemoveAll is what orch dev does on Ctrl-C: stop everything, end
// Run, remove every container of the node, leaving none behind.
func TestRemoveAll(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h := startAgent(t, rt, cp)
	running, def := newTask("node-1", ctrDef("app", ""), ctrDef("side", "", nonEssential))
	cp.run(running, def)
	done, doneDef := newTask("node-1", ctrDef("job", "run_for=10ms"))
	cp.run(done, doneDef)
	cp.waitStatus(t, running.TaskID, model.StatusRunning)
	cp.waitStatus(t, done.TaskID, model.StatusStopped)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.a.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	_ = h.stop()
	n, err := h.a.RemoveAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := containerIDs(t, rt); n != 3 || len(ids) != 0 {
		t.Errorf("RemoveAll removed %d, %d containers left; want 3 removed, none left", n, len(ids))
	}
}

func TestReportsAreBatched(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	startAgent(t, rt, cp)
	// The snapshot after registering carries 50 tasks at once.
	cp.setDown(errUnreachable)
	var ids []string
	for range 50 {
		task, def := newTask("node-1", ctrDef("app", ""))
		cp.run(task, def)
		ids = append(ids, task.TaskID)
	}
	cp.setDown(nil)
	for _, id := range ids {
		cp.waitStatus(t, id, model.StatusRunning)
	}
	cp.mu.Lock()
	batches, reports := len(cp.batches), 0
	for _, b := range cp.batches {
		reports += len(b)
	}
	cp.mu.Unlock()
	t.Logf("%d reports in %d requests", reports, batches)
	if batches > 20 {
		t.Errorf("%d ReportStatus calls for 50 tasks; want them batched", batches)
	}
}

func TestUsageSamples(t *testing.T) {
	cp := newFakeCP()
	startAgent(t, newRuntime(), cp, func(c *Config) { c.StatsInterval = 20 * time.Millisecond })
	task, def := newTask("node-1", ctrDef("app", "cpu=12.5,memory=64"), ctrDef("side", "cpu=2.5,memory=16"))
	cp.run(task, def)
	cp.waitTask(t, task.TaskID, "usage sampled", func(tk model.Task) bool {
		return tk.Usage != nil && tk.Usage.CPUPercent == 15 && tk.Usage.MemoryBytes == 80<<20 && !tk.Usage.At.IsZero()
	})
}

// TestHollowNodes runs many agents with many tasks each in one process, as
// the hollow-node load tests do, and checks every task reaches RUNNING.
func TestHollowNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const nodes, perNode = 20, 50
	start := time.Now()
	type node struct {
		cp  *fakeCP
		ids []string
	}
	var all []node
	for range nodes {
		n := node{cp: newFakeCP()}
		n.cp.hbInterval = time.Second
		startAgent(t, fake.New(fake.Config{}), n.cp)
		for range perNode {
			task, def := newTask("node-1", ctrDef("app", ""))
			n.cp.run(task, def)
			n.ids = append(n.ids, task.TaskID)
		}
		all = append(all, n)
	}
	requests, reports := 0, 0
	for _, n := range all {
		for _, id := range n.ids {
			n.cp.waitStatus(t, id, model.StatusRunning)
		}
		n.cp.mu.Lock()
		requests += len(n.cp.batches)
		for _, b := range n.cp.batches {
			reports += len(b)
		}
		n.cp.mu.Unlock()
	}
	t.Logf("%d tasks on %d agents RUNNING in %v; %d reports in %d requests; %d goroutines",
		nodes*perNode, nodes, time.Since(start).Round(time.Millisecond), reports, requests, goruntime.NumGoroutine())
}
