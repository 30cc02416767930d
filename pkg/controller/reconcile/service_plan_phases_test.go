package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// The phases of planService, one table each. Fixtures (fixture, mk,
// pending, failed, on) are in service_plan_test.go.

// ids lists task ids, for got/want messages.
func ids(ts []*model.Task) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.TaskID)
	}
	return strings.Join(out, ",")
}

// named gives tasks the ids prefix0, prefix1, ...
func named(prefix string, ts []*model.Task) []*model.Task {
	for i, t := range ts {
		t.TaskID = fmt.Sprint(prefix, i)
	}
	return ts
}

func lastEvent(svc *model.Service) string {
	if len(svc.Events) == 0 {
		return ""
	}
	return svc.Events[len(svc.Events)-1].Message
}

func TestCountFailures(t *testing.T) {
	primStart := t0.Add(-time.Minute) // fixture's web:2 deployment
	for _, tc := range []struct {
		name           string
		tasks          []*model.Task
		wantPrimary    int
		wantReasons    string
		wantRecent     int
		wantLast       string
		wantSinceShift time.Duration // since - now
	}{
		{name: "no failures", tasks: mk("web:2", 3), wantSinceShift: -time.Minute},
		{name: "failures of the primary count for both",
			tasks:       named("f", mk("web:2", 2, failed(t0.Add(-10*time.Second)))),
			wantPrimary: 2, wantReasons: "EssentialContainerExited: Essential container in task exited", wantRecent: 2, wantLast: "f0",
			wantSinceShift: -time.Minute},
		{name: "an old deployment's failures count for the backoff only",
			tasks:      named("f", mk("web:1", 1, failed(t0.Add(-10*time.Second)))),
			wantRecent: 1, wantLast: "f0", wantSinceShift: -time.Minute},
		{name: "failures before the primary started count for neither",
			tasks:          mk("web:2", 1, failed(primStart.Add(-time.Second))),
			wantSinceShift: -time.Minute},
		{name: "stopped by a user is no failure",
			tasks: mk("web:2", 1, func(t *model.Task) {
				t.DesiredStatus, t.LastStatus, t.StopCode = model.StatusStopped, model.StatusStopped, model.StopUserInitiated
			}),
			wantSinceShift: -time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(2, 100, 200, "web:2")
			f := countFailures(svc.Primary(), tc.tasks, t0)
			last := ""
			if f.last != nil {
				last = f.last.TaskID
			}
			if f.primary != tc.wantPrimary || strings.Join(f.reasons, "; ") != tc.wantReasons || f.recent != tc.wantRecent || last != tc.wantLast {
				t.Errorf("got primary %d (%q), recent %d (last %q); want primary %d (%q), recent %d (last %q)",
					f.primary, strings.Join(f.reasons, "; "), f.recent, last, tc.wantPrimary, tc.wantReasons, tc.wantRecent, tc.wantLast)
			}
			if got := f.since.Sub(t0); got != tc.wantSinceShift {
				t.Errorf("window starts %v from now, want %v", got, tc.wantSinceShift)
			}
		})
	}
}

func TestTripCircuitBreaker(t *testing.T) {
	for _, tc := range []struct {
		name          string
		breaker       *model.DeploymentCircuitBreaker
		failures      int
		noCompleted   bool
		wantTrip      bool
		wantPrimary   string // task definition of the primary afterwards
		wantLastEvent string // prefix
	}{
		{name: "off", breaker: nil, failures: 5, wantPrimary: "web:2"},
		{name: "below the threshold", breaker: &model.DeploymentCircuitBreaker{Enable: true, Rollback: true}, failures: 2, wantPrimary: "web:2"},
		{name: "rollback to the last completed deployment", breaker: &model.DeploymentCircuitBreaker{Enable: true, Rollback: true}, failures: 3,
			wantTrip: true, wantPrimary: "web:1", wantLastEvent: "(service web) rolling back: 3 tasks failed to start: EssentialContainerExited"},
		{name: "rollback with nothing to return to", breaker: &model.DeploymentCircuitBreaker{Enable: true, Rollback: true}, failures: 3, noCompleted: true,
			wantTrip: true, wantPrimary: "web:2", wantLastEvent: "(service web) deployment"},
		{name: "without rollback the deployment only fails", breaker: &model.DeploymentCircuitBreaker{Enable: true}, failures: 3,
			wantTrip: true, wantPrimary: "web:2", wantLastEvent: "(service web) deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(2, 100, 200, "web:2")
			svc.DeploymentConfiguration.DeploymentCircuitBreaker = tc.breaker
			if tc.noCompleted {
				svc.Deployments[0].RolloutState = model.RolloutFailed
			}
			failing := svc.Primary()
			tasks := named("bad", mk("web:2", tc.failures, failed(t0.Add(-time.Second))))
			pl := newPlanner(svc, tasks, noDrain, t0)
			if got := pl.tripCircuitBreaker(); got != tc.wantTrip {
				t.Fatalf("tripped %v, want %v", got, tc.wantTrip)
			}
			if got := svc.Primary().TaskDefinition; got != tc.wantPrimary {
				t.Errorf("primary %s, want %s", got, tc.wantPrimary)
			}
			if wantState := map[bool]string{true: model.RolloutFailed, false: model.RolloutInProgress}[tc.wantTrip]; failing.RolloutState != wantState {
				t.Errorf("web:2 rollout %s, want %s", failing.RolloutState, wantState)
			}
			if !strings.HasPrefix(lastEvent(svc), tc.wantLastEvent) {
				t.Errorf("last event %q, want it to start with %q", lastEvent(svc), tc.wantLastEvent)
			}
		})
	}
}

func TestBackoffUntil(t *testing.T) {
	stop := t0.Add(-time.Second)
	for _, tc := range []struct {
		recent int
		want   time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second},
		{10, serviceBackoffMax}, {1000, serviceBackoffMax},
	} {
		until, delay := backoffUntil(tc.recent, stop)
		if delay != tc.want || !until.Equal(stop.Add(tc.want)) {
			t.Errorf("backoffUntil(%d) = %v after the stop (delay %v), want %v", tc.recent, until.Sub(stop), delay, tc.want)
		}
	}
}

func TestRestartBackoff(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failedAgo   []time.Duration // one failed task each
		existing    *model.RestartBackoff
		wantBlocked bool
		wantBackoff int // RestartBackoff.Failures afterwards, 0 for none
		wantWake    time.Duration
		wantChanged bool
	}{
		{name: "no failures", wantBlocked: false},
		{name: "no failures clears an old backoff", existing: &model.RestartBackoff{Failures: 3}, wantChanged: true},
		{name: "one failure waits a second", failedAgo: []time.Duration{0}, wantBlocked: true, wantBackoff: 1, wantWake: time.Second, wantChanged: true},
		{name: "two failures wait two seconds after the last", failedAgo: []time.Duration{30 * time.Second, time.Second},
			wantBlocked: true, wantBackoff: 2, wantWake: time.Second, wantChanged: true},
		{name: "the same backoff is recorded once", failedAgo: []time.Duration{0}, existing: &model.RestartBackoff{Failures: 1},
			wantBlocked: true, wantBackoff: 1, wantWake: time.Second},
		{name: "an expired backoff stays on record", failedAgo: []time.Duration{5 * time.Second}, existing: &model.RestartBackoff{Failures: 1},
			wantBackoff: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(1, 100, 200, "")
			svc.RestartBackoff = tc.existing
			var tasks []*model.Task
			for i, ago := range tc.failedAgo {
				tasks = append(tasks, named(fmt.Sprint("f", i, "-"), mk("web:1", 1, failed(t0.Add(-ago))))...)
			}
			pl := newPlanner(svc, tasks, noDrain, t0)
			blocked := pl.restartBackoff()
			backoff := 0
			if svc.RestartBackoff != nil {
				backoff = svc.RestartBackoff.Failures
			}
			wake := time.Duration(0)
			if !pl.plan.wake.IsZero() {
				wake = pl.plan.wake.Sub(t0)
			}
			if blocked != tc.wantBlocked || backoff != tc.wantBackoff || wake != tc.wantWake || pl.plan.changed != tc.wantChanged {
				t.Errorf("blocked %v, backoff %d, wake in %v, changed %v; want %v, %d, %v, %v",
					blocked, backoff, wake, pl.plan.changed, tc.wantBlocked, tc.wantBackoff, tc.wantWake, tc.wantChanged)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	stopRequested := func(t *model.Task) { t.DesiredStatus = model.StatusStopped }
	unhealthy := func(t *model.Task) { t.HealthStatus = model.HealthUnhealthy }
	for _, tc := range []struct {
		name                            string
		deleting                        bool
		tasks                           []*model.Task
		wantNew, wantOld, wantUnhealthy string
		wantHealthy                     int
		wantStopping                    int
	}{
		{name: "primary's tasks are new, the others old",
			tasks:   append(named("o", mk("web:1", 2)), named("n", mk("web:2", 1))...),
			wantNew: "n0", wantOld: "o0,o1", wantHealthy: 3},
		{name: "pending tasks are live but not healthy",
			tasks:   named("p", mk("web:2", 2, pending)),
			wantNew: "p0,p1"},
		{name: "tasks on a draining node are old",
			tasks:   append(named("d", mk("web:2", 1, on("a"))), named("n", mk("web:2", 1, on("b")))...),
			wantNew: "n0", wantOld: "d0", wantHealthy: 2},
		{name: "stopped tasks are ignored, stopping ones counted",
			tasks:        append(named("s", mk("web:2", 1, failed(t0))), named("x", mk("web:2", 1, stopRequested))...),
			wantStopping: 1},
		{name: "unhealthy tasks are replaced",
			tasks:   append(named("u", mk("web:2", 1, unhealthy)), named("n", mk("web:2", 1))...),
			wantNew: "n0", wantHealthy: 1,
			wantUnhealthy: "u0", wantStopping: 1},
		{name: "a deleted service's tasks are all old",
			deleting: true, tasks: named("n", mk("web:2", 2)),
			wantOld: "n0,n1", wantHealthy: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(2, 100, 200, "web:2")
			svc.Primary().HealthChecked = true // so health statuses matter
			if tc.deleting {
				svc.Status = model.ServiceDraining
			}
			for _, tk := range tc.tasks {
				if tk.HealthStatus == "" && tk.LastStatus == model.StatusRunning {
					tk.HealthStatus = model.HealthHealthy
				}
			}
			c := newPlanner(svc, tc.tasks, func(n string) bool { return n == "a" }, t0).classify()
			var unhealthyTasks []*model.Task
			for _, o := range c.unhealthy {
				unhealthyTasks = append(unhealthyTasks, o.task)
			}
			got := fmt.Sprintf("new [%s] old [%s] unhealthy [%s] healthy %d stopping %d",
				ids(c.newLive), ids(c.oldLive), ids(unhealthyTasks), c.newHealthy+c.oldHealthy, sumMap(c.stopping))
			want := fmt.Sprintf("new [%s] old [%s] unhealthy [%s] healthy %d stopping %d",
				tc.wantNew, tc.wantOld, tc.wantUnhealthy, tc.wantHealthy, tc.wantStopping)
			if got != want {
				t.Errorf("\n got  %s\n want %s", got, want)
			}
		})
	}
}

func TestLaunchCount(t *testing.T) {
	for _, tc := range []struct {
		desired, newLive, total, maxTotal, want int
	}{
		{desired: 4, newLive: 0, total: 4, maxTotal: 8, want: 4},  // 100/200: start all new at once
		{desired: 4, newLive: 0, total: 4, maxTotal: 6, want: 2},  // 150%: room for 2
		{desired: 4, newLive: 0, total: 4, maxTotal: 4, want: 0},  // 100%: stop first
		{desired: 4, newLive: 3, total: 3, maxTotal: 8, want: 1},  // replace one
		{desired: 2, newLive: 3, total: 3, maxTotal: 4, want: 0},  // above desired: scale in instead
		{desired: 4, newLive: 0, total: 10, maxTotal: 8, want: 0}, // over the ceiling
	} {
		if got := launchCount(tc.desired, tc.newLive, tc.total, tc.maxTotal); got != tc.want {
			t.Errorf("launchCount(desired %d, new %d, total %d, max %d) = %d, want %d", tc.desired, tc.newLive, tc.total, tc.maxTotal, got, tc.want)
		}
	}
}

func TestPickStops(t *testing.T) {
	ts := named("t", mk("web:1", 4))
	healthy := map[*model.Task]bool{ts[2]: true, ts[3]: true} // t0, t1 not healthy, listed first
	for _, tc := range []struct {
		name        string
		limit       int
		budget      int
		want        string
		wantBudgetL int
	}{
		{"unhealthy ones stop freely", 4, 0, "t0,t1", 0},
		{"healthy ones while the budget lasts", 4, 1, "t0,t1,t2", 0},
		{"budget enough for all", 4, 5, "t0,t1,t2,t3", 3},
		{"limit", 1, 5, "t0", 5},
		{"negative budget", 4, -2, "t0,t1", -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			budget := tc.budget
			got := ids(pickStops(ts, healthy, tc.limit, &budget))
			if got != tc.want || budget != tc.wantBudgetL {
				t.Errorf("stops %q, budget left %d; want %q, %d", got, budget, tc.want, tc.wantBudgetL)
			}
		})
	}
}

func TestStopOldReasons(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deleting bool
		node     string
		want     string
	}{
		{"earlier deployment", false, "b", "replaced by deployment"},
		{"draining node", false, "a", "node a is draining"},
		{"deleted service", true, "b", "service web is being deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(1, 0, 200, "web:2")
			if tc.deleting {
				svc.Status = model.ServiceDraining
			}
			ref := "web:1"
			if tc.node == "a" {
				ref = "web:2"
			}
			pl := newPlanner(svc, mk(ref, 1, on(tc.node)), func(n string) bool { return n == "a" }, t0)
			c := pl.classify()
			budget := 1
			pl.stopOld(c, &budget)
			if len(pl.plan.stop) != 1 || !strings.HasPrefix(pl.plan.stop[0].reason, tc.want) {
				t.Errorf("stops %+v, want one with reason %q", pl.plan.stop, tc.want)
			}
		})
	}
}

// protected(i) protects the i-th task mk builds (tasks are built in order).
func protected(i int) taskOpt {
	n := 0
	return func(t *model.Task) {
		if n == i {
			until := t0.Add(time.Minute)
			t.ProtectedUntil = &until
		}
		n++
	}
}

func expired(t *model.Task) {
	until := t0.Add(-time.Second)
	t.ProtectedUntil = &until
}

// busy gives the newest of three tasks a high CPU sample and the others a low one.
func busy(t *model.Task) {
	if t.Usage == nil {
		pct := 5.0
		if t.CreatedAt.Equal(t0.Add(-time.Second)) { // the newest of three
			pct = 90
		}
		t.Usage = &model.Usage{CPUPercent: pct, At: t0}
	}
}

func TestScaleIn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired int
		tasks   []*model.Task
		budget  int
		want    string
	}{
		{"nothing above desired", 2, named("r", mk("web:1", 2)), 2, ""},
		{"newest first", 1, named("r", mk("web:1", 3)), 2, "r2,r1"},
		{"not yet healthy first", 1, append(named("p", mk("web:1", 1, pending)), named("r", mk("web:1", 2))...), 1, "p0,r1"},
		{"healthy ones only within the budget", 1, named("r", mk("web:1", 3)), 1, "r2"},
		{"a protected task is never stopped", 1, named("r", mk("web:1", 3, protected(1), protected(2))), 2, "r0"},
		{"protection that expired no longer counts", 1, named("r", mk("web:1", 3, expired)), 2, "r2,r1"},
		{"the idlest first, then the newest", 1, named("r", mk("web:1", 3, busy)), 2, "r1,r0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(tc.desired, 0, 200, "")
			pl := newPlanner(svc, tc.tasks, noDrain, t0)
			budget := tc.budget
			pl.scaleIn(pl.classify(), &budget)
			var got []*model.Task
			for _, o := range pl.plan.stop {
				got = append(got, o.task)
				if want := fmt.Sprintf("service web scaled in to %d tasks", tc.desired); o.reason != want {
					t.Errorf("reason %q, want %q", o.reason, want)
				}
			}
			if ids(got) != tc.want {
				t.Errorf("stops %q, want %q", ids(got), tc.want)
			}
		})
	}
}

func TestUpdateDeployments(t *testing.T) {
	for _, tc := range []struct {
		name         string
		tasks        []*model.Task
		launching    bool
		wantRollout  string // of the primary (web:2)
		wantOld      string // status of web:1's deployment
		wantSteady   bool
		wantEventEnd string
	}{
		{name: "old tasks keep the old deployment active", tasks: append(mk("web:1", 2), mk("web:2", 2)...),
			wantRollout: model.RolloutInProgress, wantOld: model.DeploymentActive},
		{name: "stopping old tasks too", tasks: append(mk("web:1", 1, func(t *model.Task) { t.DesiredStatus = model.StatusStopped }), mk("web:2", 2)...),
			wantRollout: model.RolloutInProgress, wantOld: model.DeploymentActive},
		{name: "done: completed, old retired, steady", tasks: mk("web:2", 2),
			wantRollout: model.RolloutCompleted, wantOld: model.DeploymentInactive, wantSteady: true, wantEventEnd: "has reached a steady state."},
		{name: "not steady while launching", tasks: mk("web:2", 2), launching: true,
			wantRollout: model.RolloutInProgress, wantOld: model.DeploymentInactive},
		{name: "not steady while tasks are pending", tasks: append(mk("web:2", 1), mk("web:2", 1, pending)...),
			wantRollout: model.RolloutInProgress, wantOld: model.DeploymentInactive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := fixture(2, 100, 200, "web:2")
			svc.Steady = false
			pl := newPlanner(svc, tc.tasks, noDrain, t0)
			if tc.launching {
				pl.plan.launch = []string{"x"}
			}
			pl.updateDeployments(pl.classify(), false)
			if got := svc.Primary().RolloutState; got != tc.wantRollout {
				t.Errorf("primary rollout %s, want %s", got, tc.wantRollout)
			}
			if got := svc.Deployments[0].Status; got != tc.wantOld {
				t.Errorf("web:1 deployment %s, want %s", got, tc.wantOld)
			}
			if svc.Steady != tc.wantSteady || !strings.HasSuffix(lastEvent(svc), tc.wantEventEnd) {
				t.Errorf("steady %v (last event %q), want %v (%q)", svc.Steady, lastEvent(svc), tc.wantSteady, tc.wantEventEnd)
			}
		})
	}
}
