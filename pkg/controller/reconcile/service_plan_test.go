package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture builds a service with a completed deployment of web:1 and, when
// newRef is set, an in-progress deployment of it.
func fixture(desired, minPct, maxPct int, newRef string) *model.Service {
	svc := &model.Service{ServiceName: "web", TaskDefinition: "web", DesiredCount: &desired, Status: model.ServiceActive,
		DeploymentConfiguration: &model.DeploymentConfiguration{MinimumHealthyPercent: &minPct, MaximumPercent: &maxPct}}
	d := svc.StartDeployment(t0.Add(-time.Hour), "web:1", "arn:web:1", false, desired)
	d.RolloutState = model.RolloutCompleted
	svc.Steady = true
	if newRef != "" {
		svc.StartDeployment(t0.Add(-time.Minute), newRef, "arn:"+newRef, false, desired)
	}
	return svc
}

type taskOpt func(*model.Task)

func mk(ref string, n int, opts ...taskOpt) []*model.Task {
	var out []*model.Task
	fam, rev, _ := model.ParseRef(ref)
	for i := range n {
		started := t0.Add(-30 * time.Second)
		t := &model.Task{TaskID: fmt.Sprintf("%s-%02d-%032d", ref, i, i), Family: fam, Revision: rev, Group: "service:web", StartedBy: "service:web",
			DesiredStatus: model.StatusRunning, LastStatus: model.StatusRunning, NodeName: "n1", StartedAt: &started,
			CreatedAt: t0.Add(-time.Duration(n-i) * time.Second)}
		for _, o := range opts {
			o(t)
		}
		out = append(out, t)
	}
	return out
}

func pending(t *model.Task)  { t.LastStatus, t.StartedAt = model.StatusPending, nil }
func on(node string) taskOpt { return func(t *model.Task) { t.NodeName = node } }
func failed(at time.Time) taskOpt {
	return func(t *model.Task) {
		t.DesiredStatus, t.LastStatus, t.StopCode, t.StoppedReason = model.StatusStopped, model.StatusStopped, model.StopEssentialContainerExited, "Essential container in task exited"
		t.StoppedAt, t.CreatedAt = &at, at.Add(-time.Second)
	}
}

func noDrain(string) bool { return false }

func stopsOf(p servicePlan, ref string) int {
	n := 0
	for _, o := range p.stop {
		if model.TaskRef(o.task) == ref {
			n++
		}
	}
	return n
}

func TestPlanRollingUpdateBounds(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		min, max                 int
		old, newRunning, newPend int
		wantLaunch, wantStopOld  int
	}{
		// desired 4: the first step of a deployment.
		{"100/200 starts 4 new, keeps the old", 100, 200, 4, 0, 0, 4, 0},
		{"50/200 stops 2 old and starts 4 new", 50, 200, 4, 0, 0, 4, 2},
		{"50/100 stops 2 old first, no room to start", 50, 100, 4, 0, 0, 0, 2},
		{"100/150 starts 2, stops none", 100, 150, 4, 0, 0, 2, 0},
		// Later steps: healthy new tasks free old ones.
		{"100/200 with 2 new healthy stops 2 old", 100, 200, 4, 2, 2, 0, 2},
		{"100/150 with 2 new healthy stops 2 old", 100, 150, 4, 2, 0, 0, 2},
		{"50/100 with 2 new pending waits", 50, 100, 2, 0, 2, 0, 0},
		{"steady: nothing to do", 100, 100, 0, 4, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(4, tc.min, tc.max, "web:2")
			tasks := append(mk("web:1", tc.old), append(mk("web:2", tc.newRunning), mk("web:2", tc.newPend, pending)...)...)
			p := planService(svc, tasks, noDrain, t0)
			if len(p.launch) != tc.wantLaunch || stopsOf(p, "web:1") != tc.wantStopOld || stopsOf(p, "web:2") != 0 {
				t.Fatalf("launch %d, stop old %d, stop new %d; want launch %d, stop old %d", len(p.launch), stopsOf(p, "web:1"), stopsOf(p, "web:2"), tc.wantLaunch, tc.wantStopOld)
			}
			// The invariant: healthy after the stops >= the floor.
			minHealthy, maxTotal := svc.Bounds(4)
			healthyAfter := tc.old + tc.newRunning - len(p.stop)
			if healthyAfter < minHealthy && len(p.stop) > 0 {
				t.Fatalf("stops leave %d healthy, below %d", healthyAfter, minHealthy)
			}
			if total := tc.old + tc.newRunning + tc.newPend + len(p.launch) - len(p.stop); total > maxTotal {
				t.Fatalf("%d tasks after the step, above %d", total, maxTotal)
			}
		})
	}
}

func TestPlanCompletesAndReportsSteadyOnce(t *testing.T) {
	svc := fixture(3, 100, 200, "web:2")
	svc.Steady = false
	p := planService(svc, mk("web:2", 3), noDrain, t0)
	if !p.changed || svc.Primary().RolloutState != model.RolloutCompleted || !svc.Steady {
		t.Fatalf("changed %v, rollout %s, steady %v", p.changed, svc.Primary().RolloutState, svc.Steady)
	}
	if !strings.Contains(svc.Events[len(svc.Events)-1].Message, "(service web) has reached a steady state.") {
		t.Fatalf("last event %q", svc.Events[len(svc.Events)-1].Message)
	}
	if svc.Deployments[0].Status != model.DeploymentInactive {
		t.Fatalf("old deployment %s, want INACTIVE", svc.Deployments[0].Status)
	}
	if p := planService(svc, mk("web:2", 3), noDrain, t0); p.changed || len(p.launch)+len(p.stop) > 0 {
		t.Fatalf("second pass at steady state changed something: %+v", p)
	}
}

func TestPlanGracePeriodWithoutHealthCheck(t *testing.T) {
	svc := fixture(2, 100, 200, "web:2")
	g := 60
	svc.HealthCheckGracePeriodSeconds = &g
	long := t0.Add(-time.Hour)
	old := mk("web:1", 2, func(t *model.Task) { t.StartedAt = &long })
	tasks := append(old, mk("web:2", 2)...) // started 30 s ago: not yet healthy
	p := planService(svc, tasks, noDrain, t0)
	if stopsOf(p, "web:1") != 0 {
		t.Fatalf("stopped old tasks before the new ones passed their grace period")
	}
	if want := t0.Add(30 * time.Second); !p.wake.Equal(want) {
		t.Fatalf("wake %v, want %v (end of the grace period)", p.wake, want)
	}
	p = planService(svc, tasks, noDrain, t0.Add(31*time.Second))
	if stopsOf(p, "web:1") != 2 {
		t.Fatalf("after the grace period: stopped %d old, want 2", stopsOf(p, "web:1"))
	}
}

func TestPlanUnhealthyTaskIsReplaced(t *testing.T) {
	svc := fixture(2, 100, 200, "")
	svc.Deployments[0].HealthChecked = true
	tasks := mk("web:1", 2, func(t *model.Task) { t.HealthStatus = model.HealthHealthy })
	tasks[1].HealthStatus = model.HealthUnhealthy
	p := planService(svc, tasks, noDrain, t0)
	if len(p.stop) != 1 || p.stop[0].task != tasks[1] || !strings.HasPrefix(p.stop[0].reason, model.ReasonUnhealthy) || len(p.launch) != 1 {
		t.Fatalf("stops %v, launches %d; want the unhealthy task replaced", p.stop, len(p.launch))
	}
}

func TestPlanBackoffGrowsAndSaysWhy(t *testing.T) {
	svc := fixture(1, 100, 200, "")
	var tasks []*model.Task
	var delays []time.Duration
	now := t0
	for i := range 4 {
		tasks = append(tasks, mk("web:1", 1, failed(now))...)
		tasks[len(tasks)-1].TaskID = fmt.Sprint("f", i)
		p := planService(svc, tasks, noDrain, now.Add(time.Millisecond))
		if len(p.launch) != 0 {
			t.Fatalf("failure %d: launched at once", i+1)
		}
		delays = append(delays, p.wake.Sub(now))
		if svc.RestartBackoff == nil || svc.RestartBackoff.Failures != i+1 || !strings.Contains(svc.RestartBackoff.Reason, "EssentialContainerExited") {
			t.Fatalf("backoff %+v", svc.RestartBackoff)
		}
		now = p.wake
		if p := planService(svc, tasks, noDrain, now); len(p.launch) != 1 {
			t.Fatalf("no launch after the backoff")
		}
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] != 2*delays[i-1] {
			t.Fatalf("delays %v do not double", delays)
		}
	}
}

func TestPlanCircuitBreakerRollsBack(t *testing.T) {
	svc := fixture(4, 100, 200, "web:2")
	svc.DeploymentConfiguration.DeploymentCircuitBreaker = &model.DeploymentCircuitBreaker{Enable: true, Rollback: true}
	tasks := mk("web:1", 4)
	for i := range 3 {
		f := mk("web:2", 1, failed(t0.Add(-time.Duration(i)*time.Second)))
		f[0].TaskID = fmt.Sprint("bad", i)
		tasks = append(tasks, f...)
	}
	p := planService(svc, tasks, noDrain, t0)
	prim := svc.Primary()
	if prim.TaskDefinition != "web:1" || svc.TaskDefinition != "web:1" {
		t.Fatalf("primary %s, service %s; want a rollback to web:1", prim.TaskDefinition, svc.TaskDefinition)
	}
	failedDep := svc.Deployments[1]
	if failedDep.RolloutState != model.RolloutFailed || failedDep.FailedTasks != 3 {
		t.Fatalf("web:2 deployment %+v", failedDep)
	}
	if !p.changed || len(p.launch) != 0 || len(p.stop) != 0 {
		t.Fatalf("after rollback: changed %v, launch %d, stop %d; the old tasks serve as they are", p.changed, len(p.launch), len(p.stop))
	}
	found := false
	for _, e := range svc.Events {
		found = found || strings.Contains(e.Message, "rolling back: 3 tasks failed to start: EssentialContainerExited")
	}
	if !found {
		t.Fatalf("no rollback event: %v", svc.Events)
	}
	if got := model.CircuitBreakerThreshold(1); got != 3 {
		t.Fatalf("threshold(1) = %d, want 3", got)
	}
	if got := model.CircuitBreakerThreshold(1000); got != 200 {
		t.Fatalf("threshold(1000) = %d, want 200", got)
	}
	if got := model.CircuitBreakerThreshold(11); got != 6 {
		t.Fatalf("threshold(11) = %d, want 6", got)
	}
}

func TestPlanDrainingNodeReplacedWithinBounds(t *testing.T) {
	svc := fixture(4, 50, 100, "")
	tasks := append(mk("web:1", 2, on("a")), mk("web:1", 2, on("b"))...)
	tasks[2].TaskID, tasks[3].TaskID = "b0", "b1"
	p := planService(svc, tasks, func(n string) bool { return n == "a" }, t0)
	// 50/100: 2 may stop (4 healthy, floor 2), no room to start first.
	if stopsOf(p, "web:1") != 2 || len(p.launch) != 0 {
		t.Fatalf("stop %d launch %d, want 2 and 0", len(p.stop), len(p.launch))
	}
	for _, o := range p.stop {
		if o.task.NodeName != "a" || !strings.Contains(o.reason, "draining") {
			t.Fatalf("stopped %s on %s (%s)", o.task.TaskID, o.task.NodeName, o.reason)
		}
	}
}

func TestPlanDeleteStopsEverythingThenRemoves(t *testing.T) {
	svc := fixture(2, 100, 200, "")
	svc.Status = model.ServiceDraining
	p := planService(svc, mk("web:1", 2), noDrain, t0)
	if len(p.stop) != 2 || p.remove {
		t.Fatalf("stop %d remove %v", len(p.stop), p.remove)
	}
	if p := planService(svc, nil, noDrain, t0); !p.remove {
		t.Fatal("no tasks left, but the service is not removed")
	}
}
