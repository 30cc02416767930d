package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// Restart backoff of services whose tasks keep failing: with n task
// failures in the last window (since the primary deployment started, at
// most), replacements wait base x 2^(n-1) after the last failure, at most
// max. A crash loop settles at a restart every minute or so; a task that
// fails once after a quiet window is replaced after a second.
var (
	serviceBackoffBase   = time.Second
	serviceBackoffMax    = 5 * time.Minute
	serviceBackoffWindow = 10 * time.Minute
)

// servicePlan is what one reconciliation of a service decided. planService
// computes it from the service record and the service's tasks alone (no
// etcd, no clock but now): a calculation, like the scheduler.
type servicePlan struct {
	// changed means the service record was modified (deployment states,
	// events, backoff) and must be written before acting on the tasks.
	changed bool
	// launch holds the ids of new tasks of the primary deployment.
	launch    []string
	launchRef string
	stop      []stopOrder
	// remove means a DRAINING (deleted) service has no tasks left.
	remove bool
	// wake is when the plan may change without any task changing (grace
	// periods end, backoff expires); zero when never.
	wake time.Time
}

type stopOrder struct {
	task   *model.Task
	reason string
}

// planService decides the next steps for svc given its tasks (live and
// recently stopped), which nodes are draining, and the time. It mutates
// svc (deployment states, events) and says so in plan.changed.
//
// The phases, in order: count failures; trip the circuit breaker (which
// may roll back, then planning starts over for the new primary); classify
// the tasks, replacing unhealthy ones; apply the restart backoff; roll
// forward (launch); stop old tasks; scale in; report; update deployment
// states. Each phase is a method of planner: service_plan_failures.go,
// service_plan_tasks.go and service_plan_rollout.go.
func planService(svc *model.Service, tasks []*model.Task, draining func(node string) bool, now time.Time) servicePlan {
	sortOldestFirst(tasks)
	pl := newPlanner(svc, tasks, draining, now)
	if pl.tripCircuitBreaker() {
		// The primary deployment failed and a rollback may have started:
		// plan for the service as it is now, without tripping again.
		pl = newPlanner(svc, tasks, draining, now)
		pl.plan.changed = true
	}
	pl.run()
	return pl.plan
}

// planner holds one reconciliation's inputs, what the phases share, and
// the plan being built.
type planner struct {
	svc      *model.Service
	tasks    []*model.Task // oldest first
	draining func(node string) bool
	now      time.Time         // UTC
	prim     *model.Deployment // nil when the service has no primary
	active   bool              // false while the service is being deleted
	desired  int               // 0 while the service is being deleted
	fails    failures
	plan     servicePlan
}

// newPlanner prepares a plan: it brings the primary deployment's desired
// count and failure count up to date (the circuit breaker reads them).
func newPlanner(svc *model.Service, tasks []*model.Task, draining func(node string) bool, now time.Time) *planner {
	pl := &planner{svc: svc, tasks: tasks, draining: draining, now: now.UTC(), prim: svc.Primary(), active: svc.Status != model.ServiceDraining}
	if pl.active {
		pl.desired = svc.Desired()
	}
	if pl.prim != nil && pl.prim.DesiredCount != pl.desired {
		pl.prim.DesiredCount, pl.plan.changed = pl.desired, true
	}
	pl.fails = countFailures(pl.prim, tasks, pl.now)
	if pl.prim != nil && pl.prim.FailedTasks != pl.fails.primary && pl.prim.RolloutState == model.RolloutInProgress {
		pl.prim.FailedTasks, pl.plan.changed = pl.fails.primary, true
	}
	return pl
}

// run applies the phases after the circuit breaker.
func (pl *planner) run() {
	c := pl.classify()
	pl.replaceUnhealthy(c.unhealthy)
	blocked := pl.restartBackoff()
	minHealthy, maxTotal := pl.svc.Bounds(pl.desired)
	budget := c.newHealthy + c.oldHealthy - minHealthy // healthy tasks that may stop
	// A failed deployment that was not rolled back is frozen: no launches,
	// and the old tasks keep serving.
	frozen := pl.prim == nil || pl.prim.RolloutState == model.RolloutFailed
	if pl.active && !frozen && !blocked {
		pl.rollForward(c, maxTotal)
	}
	if !frozen || !pl.active {
		pl.stopOld(c, &budget)
	}
	pl.scaleIn(c, &budget)
	pl.reportActions()
	pl.updateDeployments(c, frozen)
	pl.plan.remove = !pl.active && len(c.newLive)+len(c.oldLive) == 0 && sumMap(c.stopping) == 0 && len(pl.plan.stop) == 0
}

// wakeAt asks for another reconciliation at t, when nothing else changes
// before (the earliest such time wins).
func (pl *planner) wakeAt(t time.Time) {
	if t.After(pl.now) && (pl.plan.wake.IsZero() || t.Before(pl.plan.wake)) {
		pl.plan.wake = t
	}
}

// sortOldestFirst sorts tasks so every decision is deterministic: oldest
// first, then by id.
func sortOldestFirst(tasks []*model.Task) {
	sort.Slice(tasks, func(i, j int) bool {
		if !tasks[i].CreatedAt.Equal(tasks[j].CreatedAt) {
			return tasks[i].CreatedAt.Before(tasks[j].CreatedAt)
		}
		return tasks[i].TaskID < tasks[j].TaskID
	})
}

func sumMap(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// shortIDs lists task ids as ECS does in service events: "(task a1b2c3d4) ...",
// at most ten of them.
func shortIDs(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(ids)-10)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(id) > 8 {
			id = id[:8]
		}
		fmt.Fprintf(&b, "(task %s)", id)
	}
	return b.String()
}

// failureText is a one-line reason a task failed: stop code, reason, and
// the exit code of an essential container.
func failureText(t *model.Task) string {
	if t.StopCode == model.StopServiceSchedulerInitiated {
		return t.StoppedReason // the scheduler's own words say it all
	}
	s := t.StopCode
	if t.StoppedReason != "" {
		s += ": " + t.StoppedReason
	}
	for _, c := range t.Containers {
		if c.Essential && c.ExitCode != nil {
			s += fmt.Sprintf(" (container %s exit %d", c.Name, *c.ExitCode)
			if c.Reason != "" {
				s += ": " + c.Reason
			}
			s += ")"
			break
		}
	}
	return s
}

func unhealthyContainers(t *model.Task) string {
	var names []string
	for _, c := range t.Containers {
		if c.HealthStatus == model.HealthUnhealthy {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return "task health UNHEALTHY"
	}
	return "container " + strings.Join(names, ", ") + " UNHEALTHY"
}
