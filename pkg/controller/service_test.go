package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// svcCluster is an in-process control plane with agents on the fake runtime.
type svcCluster struct {
	*testutil.ControlPlane
	rts map[string]*fake.Runtime
}

func startSvcCluster(t *testing.T, nodes int) *svcCluster {
	t.Helper()
	cp := testutil.StartServer(t)
	c := &svcCluster{ControlPlane: cp, rts: map[string]*fake.Runtime{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := range nodes {
		name := fmt.Sprintf("n%d", i)
		rt := fake.New(fake.Config{CPU: 4096, MemoryMiB: 8192, Images: []string{"fake"}})
		ag, err := agent.New(agent.Config{NodeName: name, Runtime: rt, Logger: testutil.Logger(), StatsInterval: -1,
			ControlPlane: client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken})})
		if err != nil {
			t.Fatal(err)
		}
		c.rts[name] = rt
		wg.Go(func() { ag.Run(ctx) })
	}
	testutil.WaitFor(t, 20*time.Second, "nodes alive", func() (bool, string) {
		ns, err := cp.Admin.ListNodes(context.Background())
		alive := 0
		for _, n := range ns {
			if n.Alive {
				alive++
			}
		}
		return err == nil && alive == nodes, fmt.Sprintf("%d alive (%v)", alive, err)
	})
	return c
}

// apply applies JSON documents "Kind {...}" in one call.
func (c *svcCluster) apply(t *testing.T, docs ...string) []wire.ApplyResult {
	t.Helper()
	res, err := c.tryApply(docs...)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func (c *svcCluster) tryApply(docs ...string) ([]wire.ApplyResult, error) {
	var req []wire.ApplyDocument
	for _, d := range docs {
		kind, spec, _ := strings.Cut(d, " ")
		req = append(req, wire.ApplyDocument{Kind: kind, Spec: json.RawMessage(spec)})
	}
	return c.Admin.Apply(context.Background(), req)
}

// taskDef is a fake-runtime task definition; script goes to ORCH_FAKE and
// checked adds a health check.
func taskDef(family, script string, checked bool) string {
	hc := ""
	if checked {
		hc = `,"healthCheck":{"command":["CMD","true"],"interval":5}`
	}
	return fmt.Sprintf(`TaskDefinition {"family":%q,"containerDefinitions":[{"name":"app","image":"fake","memory":32,"stopTimeout":1,
		"environment":[{"name":"ORCH_FAKE","value":%q}]%s}]}`, family, script, hc)
}

func service(name, td string, desired, minPct, maxPct int, extra string) string {
	return fmt.Sprintf(`Service {"serviceName":%q,"taskDefinition":%q,"desiredCount":%d,
		"deploymentConfiguration":{"minimumHealthyPercent":%d,"maximumPercent":%d%s}}`, name, td, desired, minPct, maxPct, extra)
}

func (c *svcCluster) get(t *testing.T, name string) (*model.Service, []*model.Task) {
	t.Helper()
	svc, tasks, err := c.Admin.GetService(context.Background(), name)
	if err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	return svc, tasks
}

// waitSteady waits until the service's primary deployment completed with
// desired healthy tasks of ref and nothing else running.
func (c *svcCluster) waitSteady(t *testing.T, name, ref string, desired int, timeout time.Duration) *model.Service {
	t.Helper()
	var svc *model.Service
	testutil.WaitFor(t, timeout, "service "+name+" steady on "+ref, func() (bool, string) {
		var err error
		svc, _, err = c.Admin.GetService(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		p := svc.Primary()
		if p == nil {
			return false, "no primary deployment"
		}
		ok := p.TaskDefinition == ref && p.RolloutState == model.RolloutCompleted && svc.Steady &&
			p.HealthyCount == desired && svc.RunningCount == desired && svc.PendingCount == 0
		return ok, fmt.Sprintf("primary %s %s, running %d pending %d healthy %d, steady %v; deployments: %s; last event: %s",
			p.TaskDefinition, p.RolloutState, svc.RunningCount, svc.PendingCount, svc.HealthyCount, svc.Steady, deps(svc), lastEvent(svc))
	})
	return svc
}

func deps(svc *model.Service) string {
	var s []string
	for _, d := range svc.Deployments {
		s = append(s, fmt.Sprintf("%s/%s/%s(run %d healthy %d failed %d)", d.TaskDefinition, d.Status, d.RolloutState, d.RunningCount, d.HealthyCount, d.FailedTasks))
	}
	return strings.Join(s, ", ")
}

func lastEvent(svc *model.Service) string {
	if len(svc.Events) == 0 {
		return "-"
	}
	return svc.Events[len(svc.Events)-1].Message
}

func hasEvent(svc *model.Service, substr string) bool {
	for _, e := range svc.Events {
		if strings.Contains(e.Message, substr) {
			return true
		}
	}
	return false
}

func liveTasks(tasks []*model.Task) []*model.Task {
	var out []*model.Task
	for _, t := range tasks {
		if !t.IsStopped() && t.DesiredStatus == model.StatusRunning {
			out = append(out, t)
		}
	}
	return out
}

func TestServiceScaleUpAndDownLeavesStandaloneTasksAlone(t *testing.T) {
	c := startSvcCluster(t, 2)
	ctx := context.Background()
	c.apply(t, taskDef("web", "", false), service("web", "web", 3, 100, 200, ""))
	svc := c.waitSteady(t, "web", "web:1", 3, 20*time.Second)
	if !hasEvent(svc, "has reached a steady state") {
		t.Fatalf("no steady-state event: %v", svc.Events)
	}
	// A standalone task in the service's group, started by someone else.
	solo, err := c.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web", Group: "service:web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.ScaleService(ctx, "web", 5); err != nil {
		t.Fatal(err)
	}
	c.waitSteady(t, "web", "web:1", 5, 20*time.Second)
	if _, err := c.Admin.ScaleService(ctx, "web", 1); err != nil {
		t.Fatal(err)
	}
	_, tasks := c.waitSteady(t, "web", "web:1", 1, 20*time.Second), []*model.Task(nil)
	_, tasks = c.get(t, "web")
	stoppedBySvc := 0
	for _, tk := range tasks {
		if tk.DesiredStatus == model.StatusStopped {
			if tk.StopCode != model.StopServiceSchedulerInitiated {
				t.Fatalf("task %s stopped with %s, want %s", tk.ShortID(), tk.StopCode, model.StopServiceSchedulerInitiated)
			}
			stoppedBySvc++
		}
	}
	if stoppedBySvc != 4 {
		t.Fatalf("%d tasks stopped by the service scheduler, want 4", stoppedBySvc)
	}
	got, err := c.Admin.GetTask(ctx, solo[0].TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DesiredStatus != model.StatusRunning {
		t.Fatalf("standalone task was touched: desired %s, stop %s %q", got.DesiredStatus, got.StopCode, got.StoppedReason)
	}
	// Delete scales to 0, then removes the service.
	if _, err := c.Admin.DeleteService(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "service deleted", func() (bool, string) {
		_, _, err := c.Admin.GetService(ctx, "web")
		var ce *client.Error
		return errors.As(err, &ce) && ce.Status == 404, fmt.Sprint(err)
	})
	ts, _ := c.Admin.ListTasks(ctx, url.Values{"group": {"service:web"}, "desiredStatus": {model.StatusRunning}})
	if len(ts) != 1 || ts[0].TaskID != solo[0].TaskID {
		t.Fatalf("after delete, running tasks in group service:web = %d, want only the standalone one", len(ts))
	}
}

func TestServiceReplacesKilledTask(t *testing.T) {
	c := startSvcCluster(t, 1)
	c.apply(t, taskDef("kill", "", false), service("kill", "kill", 2, 100, 200, ""))
	c.waitSteady(t, "kill", "kill:1", 2, 20*time.Second)
	_, tasks := c.get(t, "kill")
	victim := liveTasks(tasks)[0]
	if err := c.rts["n0"].Exit(victim.Containers[0].RuntimeID, 137); err != nil {
		t.Fatal(err)
	}
	testutil.WaitTask(t, c.Admin, victim.TaskID, 10*time.Second, func(t *model.Task) bool { return t.IsStopped() })
	testutil.WaitFor(t, 20*time.Second, "replacement", func() (bool, string) {
		svc, tasks := c.get(t, "kill")
		live := liveTasks(tasks)
		for _, tk := range live {
			if tk.TaskID == victim.TaskID {
				return false, "victim still live"
			}
		}
		return len(live) == 2 && svc.HealthyCount == 2, fmt.Sprintf("%d live, %d healthy", len(live), svc.HealthyCount)
	})
}

func TestServiceCrashLoopBacksOff(t *testing.T) {
	c := startSvcCluster(t, 1)
	c.apply(t, taskDef("crash", "run_for=50ms,exit_code=3", false), service("crash", "crash", 1, 100, 200, ""))
	var tasks []*model.Task
	var svc *model.Service
	testutil.WaitFor(t, 30*time.Second, "4 crashed tasks", func() (bool, string) {
		svc, tasks = c.get(t, "crash")
		n := 0
		for _, tk := range tasks {
			if tk.IsStopped() {
				n++
			}
		}
		return n >= 4, fmt.Sprintf("%d stopped; last event %s", n, lastEvent(svc))
	})
	// tasks are newest first: the gaps between creations grow.
	var created []time.Time
	for i := len(tasks) - 1; i >= 0; i-- {
		created = append(created, tasks[i].CreatedAt)
	}
	g1, g3 := created[1].Sub(created[0]), created[3].Sub(created[2])
	if g3 <= g1 || g3 < 3*time.Second {
		for _, e := range svc.Events {
			t.Logf("event %s %s", e.CreatedAt.Format("05.000"), e.Message)
		}
		t.Fatalf("restart gaps do not back off: first %v, third %v", g1, g3)
	}
	if svc.RestartBackoff == nil || !strings.Contains(svc.RestartBackoff.Reason, "EssentialContainerExited") {
		t.Fatalf("backoff reason not visible: %+v", svc.RestartBackoff)
	}
	if !hasEvent(svc, "tasks failed in the last") {
		t.Fatalf("no backoff event: %v", svc.Events)
	}
}

// sampler polls the service's healthy and live counts until stopped and
// records the extremes.
type sampler struct {
	minHealthy, maxLive atomic.Int64
	samples             atomic.Int64
	stop                chan struct{}
	done                chan struct{}
}

func sample(c *svcCluster, name string) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	s.minHealthy.Store(1 << 30)
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			svc, _, err := c.Admin.GetService(context.Background(), name)
			if err == nil {
				s.samples.Add(1)
				if h := int64(svc.HealthyCount); h < s.minHealthy.Load() {
					s.minHealthy.Store(h)
				}
				if l := int64(svc.RunningCount + svc.PendingCount); l > s.maxLive.Load() {
					s.maxLive.Store(l)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return s
}

func (s *sampler) finish() { close(s.stop); <-s.done }

func TestServiceRollingUpdateStaysWithinBounds(t *testing.T) {
	for _, tc := range []struct{ min, max int }{{50, 200}, {100, 200}, {50, 100}} {
		t.Run(fmt.Sprintf("%d-%d", tc.min, tc.max), func(t *testing.T) {
			c := startSvcCluster(t, 2)
			const desired = 4
			c.apply(t, taskDef("roll", "health=healthy_after:200ms", true), service("roll", "roll", desired, tc.min, tc.max, ""))
			c.waitSteady(t, "roll", "roll:1", desired, 20*time.Second)
			s := sample(c, "roll")
			c.apply(t, taskDef("roll", "health=healthy_after:300ms,log_lines=1", true), service("roll", "roll", desired, tc.min, tc.max, ""))
			svc := c.waitSteady(t, "roll", "roll:2", desired, 30*time.Second)
			s.finish()
			minHealthy := int64((desired*tc.min + 99) / 100)
			maxLive := int64(desired * tc.max / 100)
			t.Logf("%d samples: healthy never below %d (floor %d), live at most %d (ceiling %d)", s.samples.Load(), s.minHealthy.Load(), minHealthy, s.maxLive.Load(), maxLive)
			// A few samples prove the sampler watched the update; a loaded
			// machine answers GetService slowly, so do not ask for many.
			if s.samples.Load() < 3 {
				t.Fatalf("only %d samples during the update", s.samples.Load())
			}
			if s.minHealthy.Load() < minHealthy {
				t.Fatalf("healthy tasks dropped to %d during the update, below the minimum %d", s.minHealthy.Load(), minHealthy)
			}
			if s.maxLive.Load() > maxLive {
				t.Fatalf("%d tasks ran during the update, above the maximum %d", s.maxLive.Load(), maxLive)
			}
			if !hasEvent(svc, "deployment completed") {
				t.Fatalf("no completion event: %v", svc.Events)
			}
		})
	}
}

func TestServiceFailingHealthCheckRollsBack(t *testing.T) {
	c := startSvcCluster(t, 2)
	const desired = 4
	cb := `,"deploymentCircuitBreaker":{"enable":true,"rollback":true}`
	c.apply(t, taskDef("hc", "health=healthy_after:100ms", true), service("hc", "hc", desired, 50, 200, cb))
	c.waitSteady(t, "hc", "hc:1", desired, 20*time.Second)
	s := sample(c, "hc")
	c.apply(t, taskDef("hc", "health=unhealthy_after:100ms", true), service("hc", "hc", desired, 50, 200, cb))
	var svc *model.Service
	testutil.WaitFor(t, 60*time.Second, "rollback", func() (bool, string) {
		svc, _ = c.get(t, "hc")
		var all []string
		for _, e := range svc.Events {
			all = append(all, e.Message)
		}
		return hasEvent(svc, "tasks failed to start: Task failed container health checks") && hasEvent(svc, "rolling back: "), fmt.Sprintf("%s; events:\n%s", deps(svc), strings.Join(all, "\n"))
	})
	svc = c.waitSteady(t, "hc", "hc:1", desired, 30*time.Second)
	s.finish()
	if s.minHealthy.Load() < 2 {
		t.Fatalf("healthy tasks dropped to %d, below the minimum 2", s.minHealthy.Load())
	}
	var failed *model.Deployment
	for i := range svc.Deployments {
		if svc.Deployments[i].TaskDefinition == "hc:2" {
			failed = &svc.Deployments[i]
		}
	}
	if failed == nil || failed.RolloutState != model.RolloutFailed || !strings.Contains(failed.RolloutStateReason, "circuit breaker") {
		t.Fatalf("hc:2 deployment not FAILED by the circuit breaker: %s", deps(svc))
	}
	if svc.TaskDefinition != "hc:1" {
		t.Fatalf("service task definition %s after rollback, want hc:1", svc.TaskDefinition)
	}
}

func TestServiceDrainingNodeTasksAreReplaced(t *testing.T) {
	c := startSvcCluster(t, 2)
	ctx := context.Background()
	c.apply(t, taskDef("dr", "", false), service("dr", "dr", 4, 50, 100, ""))
	c.waitSteady(t, "dr", "dr:1", 4, 20*time.Second)
	if _, err := c.Admin.SetNodeStatus(ctx, "n0", "drain"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "tasks moved off n0", func() (bool, string) {
		svc, tasks := c.get(t, "dr")
		on := map[string]int{}
		for _, tk := range liveTasks(tasks) {
			on[tk.NodeName]++
		}
		return on["n0"] == 0 && on["n1"] == 4 && svc.HealthyCount == 4, fmt.Sprintf("per node %v, healthy %d", on, svc.HealthyCount)
	})
}

func TestServiceValidation(t *testing.T) {
	c := startSvcCluster(t, 0)
	ctx := context.Background()
	cases := []struct{ doc, want string }{
		{`Service {"serviceName":"v","taskDefinition":"nope","desiredCount":1}`, `taskDefinition: task definition "nope" is not registered`},
		{`Service {"serviceName":"v","desiredCount":1}`, "taskDefinition: is required"},
		{`Service {"serviceName":"v","taskDefinition":"v","desiredCount":-1}`, "desiredCount: must be between 0 and 5000, got -1"},
		{`Service {"serviceName":"v","taskDefinition":"v","deploymentConfiguration":{"maximumPercent":90}}`, "deploymentConfiguration.maximumPercent: must be between 100 and 1000, got 90"},
		{`Service {"serviceName":"v","taskDefinition":"v","deploymentConfiguration":{"minimumHealthyPercent":150,"maximumPercent":120}}`, "deploymentConfiguration.minimumHealthyPercent: 150 is above maximumPercent 120"},
		{`Service {"serviceName":"v","taskDefinition":"v","placementConstraints":[{"type":"memberOf","expression":"attribute:zone =="}]}`, "placementConstraints[0].expression"},
		{`Service {"serviceName":"v","taskDefinition":"v","desiredCount":"two"}`, "desiredCount"},
	}
	for _, tc := range cases {
		// The task definition "v" comes in the same apply: nothing is
		// applied when the service is invalid.
		_, err := c.tryApply(taskDef("v", "", false), tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "documents[1]") {
			t.Errorf("%s:\n got %v\nwant documents[1] ... %s", tc.doc, err, tc.want)
		}
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 400 {
			t.Errorf("status %v, want 400", err)
		}
	}
	if tds, _ := c.Admin.ListTaskDefinitions(ctx, "v"); len(tds) != 0 {
		t.Fatalf("an invalid apply registered %d task definitions", len(tds))
	}
	if svcs, _ := c.Admin.ListServices(ctx); len(svcs) != 0 {
		t.Fatalf("an invalid apply created %d services", len(svcs))
	}
	// A service may name a task definition registered earlier or in the
	// same apply.
	if _, err := c.tryApply(taskDef("v", "", false), `Service {"serviceName":"v","taskDefinition":"v","desiredCount":0}`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tryApply(`Service {"serviceName":"w","taskDefinition":"v:1","desiredCount":0}`); err != nil {
		t.Fatal(err)
	}
}
