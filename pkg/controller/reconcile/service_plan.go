package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/controller"
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

// deploymentByRef returns the newest deployment of a task definition ref
// (live ones first), or nil.
func deploymentByRef(svc *model.Service, ref string) *model.Deployment {
	if d := svc.DeploymentFor(ref); d != nil {
		return d
	}
	for i := len(svc.Deployments) - 1; i >= 0; i-- {
		if svc.Deployments[i].TaskDefinition == ref {
			return &svc.Deployments[i]
		}
	}
	return nil
}

// planService decides the next steps for svc given its tasks (live and
// recently stopped), which nodes are draining, and the time. It mutates
// svc (deployment states, events) and says so in plan.changed.
func planService(svc *model.Service, tasks []*model.Task, draining func(node string) bool, now time.Time) servicePlan {
	return planServiceDepth(svc, tasks, draining, now, 0)
}

func planServiceDepth(svc *model.Service, tasks []*model.Task, draining func(node string) bool, now time.Time, depth int) servicePlan {
	var p servicePlan
	now = now.UTC()
	name := svc.ServiceName
	grace := svc.GracePeriod()
	prim := svc.Primary()
	active := svc.Status != model.ServiceDraining
	desired := 0
	if active {
		desired = svc.Desired()
	}
	if prim != nil && prim.DesiredCount != desired {
		prim.DesiredCount, p.changed = desired, true
	}
	hc := func(t *model.Task) bool {
		if d := deploymentByRef(svc, model.TaskRef(t)); d != nil {
			return d.HealthChecked
		}
		return false
	}
	wakeAt := func(t time.Time) {
		if t.After(now) && (p.wake.IsZero() || t.Before(p.wake)) {
			p.wake = t
		}
	}

	// Sort tasks so every decision is deterministic: oldest first.
	sort.Slice(tasks, func(i, j int) bool {
		if !tasks[i].CreatedAt.Equal(tasks[j].CreatedAt) {
			return tasks[i].CreatedAt.Before(tasks[j].CreatedAt)
		}
		return tasks[i].TaskID < tasks[j].TaskID
	})

	// Failures: for the circuit breaker (the primary's tasks since it
	// started) and the restart backoff (any task in the window, since the
	// primary started).
	resetAt := now.Add(-serviceBackoffWindow)
	if prim != nil && prim.CreatedAt.After(resetAt) {
		resetAt = prim.CreatedAt
	}
	primFailed, recentFailed := 0, 0
	var lastFail *model.Task
	var failReasons []string
	for _, t := range tasks {
		if !model.TaskFailed(t) {
			continue
		}
		if prim != nil && model.TaskRef(t) == prim.TaskDefinition && !t.CreatedAt.Before(prim.CreatedAt) {
			primFailed++
			if r := failureText(t); len(failReasons) < 3 && !slices.Contains(failReasons, r) {
				failReasons = append(failReasons, r)
			}
		}
		if t.StoppedAt != nil && t.StoppedAt.After(resetAt) {
			recentFailed++
			if lastFail == nil || t.StoppedAt.After(*lastFail.StoppedAt) {
				lastFail = t
			}
		}
	}
	if prim != nil && prim.FailedTasks != primFailed && prim.RolloutState == model.RolloutInProgress {
		prim.FailedTasks, p.changed = primFailed, true
	}

	// Circuit breaker (ECS): too many failed tasks fail the deployment and,
	// with rollback, return to the last completed one.
	cb := svc.CircuitBreaker()
	if active && prim != nil && cb.Enable && prim.RolloutState == model.RolloutInProgress &&
		prim.FailedTasks >= model.CircuitBreakerThreshold(desired) && depth == 0 {
		why := fmt.Sprintf("%d tasks failed to start: %s", prim.FailedTasks, strings.Join(failReasons, "; "))
		prim.RolloutState, prim.RolloutStateReason, prim.UpdatedAt = model.RolloutFailed, "deployment circuit breaker: "+why, now
		target := svc.LastCompleted(prim.ID)
		switch {
		case cb.Rollback && target != nil && target.TaskDefinition != prim.TaskDefinition:
			svc.AddEvent(now, "(service %s) rolling back: %s; returning to %s (deployment %s)", name, why, target.TaskDefinition, target.ID)
			failedID := prim.ID
			svc.TaskDefinition = target.TaskDefinition
			nd := svc.StartDeployment(now, target.TaskDefinition, target.TaskDefinitionArn, target.HealthChecked, desired)
			nd.RolloutStateReason = "rollback of failed deployment " + failedID
			svc.RestartBackoff = nil
		case cb.Rollback:
			svc.AddEvent(now, "(service %s) deployment %s failed: %s; no completed deployment to roll back to", name, prim.ID, why)
		default:
			svc.AddEvent(now, "(service %s) deployment %s failed: %s", name, prim.ID, why)
		}
		inner := planServiceDepth(svc, tasks, draining, now, depth+1)
		inner.changed = true
		return inner
	}
	frozen := prim == nil || prim.RolloutState == model.RolloutFailed

	// Classify the tasks that should run.
	var newLive, oldLive []*model.Task
	stopping := map[string]int{} // ref -> tasks asked to stop, not stopped yet
	liveByRef := map[string]int{}
	healthy := map[*model.Task]bool{}
	newHealthy, oldHealthy := 0, 0
	for _, t := range tasks {
		if t.IsStopped() {
			continue
		}
		ref := model.TaskRef(t)
		if t.DesiredStatus != model.StatusRunning {
			stopping[ref]++
			continue
		}
		h := hc(t)
		if model.TaskUnhealthy(t, h, grace, now) {
			p.stop = append(p.stop, stopOrder{t, fmt.Sprintf("%s: %s", model.ReasonUnhealthy, unhealthyContainers(t))})
			stopping[ref]++
			continue
		}
		if t.LastStatus == model.StatusRunning && t.StartedAt != nil && grace > 0 {
			wakeAt(t.StartedAt.Add(grace)) // health counts (or matters) after the grace period
		}
		liveByRef[ref]++
		healthy[t] = model.TaskHealthy(t, h, grace, now)
		isNew := active && prim != nil && ref == prim.TaskDefinition && (t.NodeName == "" || !draining(t.NodeName))
		if isNew {
			newLive = append(newLive, t)
			if healthy[t] {
				newHealthy++
			}
		} else {
			oldLive = append(oldLive, t)
			if healthy[t] {
				oldHealthy++
			}
		}
	}
	for _, o := range p.stop {
		svc.AddEvent(now, "(service %s) task %s failed container health checks (%s); replacing it", name, o.task.ShortID(), unhealthyContainers(o.task))
		p.changed = true
	}

	// Restart backoff.
	blocked := false
	if recentFailed > 0 && lastFail != nil && lastFail.StoppedAt != nil {
		shift := min(recentFailed-1, 20)
		delay := min(serviceBackoffBase<<shift, serviceBackoffMax)
		until := lastFail.StoppedAt.Add(delay).UTC()
		if now.Before(until) {
			blocked = true
			wakeAt(until)
			if rb := svc.RestartBackoff; rb == nil || rb.Failures != recentFailed {
				reason := failureText(lastFail)
				svc.RestartBackoff = &model.RestartBackoff{Failures: recentFailed, Until: until, Reason: reason}
				svc.AddEvent(now, "(service %s) %d tasks failed in the last %s (last: %s); waiting %s before starting replacements",
					name, recentFailed, min(now.Sub(resetAt), serviceBackoffWindow).Round(time.Second), reason, delay.Round(time.Millisecond))
				p.changed = true
			}
		}
	}

	if recentFailed == 0 && svc.RestartBackoff != nil {
		svc.RestartBackoff, p.changed = nil, true
	}

	minHealthy, maxTotal := svc.Bounds(desired)
	budget := newHealthy + oldHealthy - minHealthy // healthy tasks that may stop

	// Launch new tasks up to desired, within maximumPercent.
	if active && !frozen && !blocked {
		need := desired - len(newLive)
		room := maxTotal - len(newLive) - len(oldLive)
		for range max(0, min(need, room)) {
			p.launch = append(p.launch, controller.NewTaskID())
		}
		p.launchRef = prim.TaskDefinition
	}

	// Stop old tasks (earlier deployments, draining nodes): those not
	// healthy at once, healthy ones while the healthy count stays at or
	// above minimumHealthyPercent. A frozen (failed, not rolled back)
	// deployment keeps the old tasks.
	if !frozen || !active {
		sort.SliceStable(oldLive, func(i, j int) bool { return !healthy[oldLive[i]] && healthy[oldLive[j]] })
		for _, t := range oldLive {
			if healthy[t] {
				if budget <= 0 {
					break
				}
				budget--
			}
			var why string
			switch {
			case !active:
				why = "service " + name + " is being deleted"
			case t.NodeName != "" && draining(t.NodeName):
				why = fmt.Sprintf("node %s is draining", t.NodeName)
			default:
				why = fmt.Sprintf("replaced by deployment %s (%s)", prim.ID, prim.TaskDefinition)
			}
			p.stop = append(p.stop, stopOrder{t, why})
		}
	}
	// Scale in: stop new tasks beyond desired, not-yet-healthy and newest first.
	if excess := len(newLive) - desired; excess > 0 {
		cand := append([]*model.Task(nil), newLive...)
		sort.SliceStable(cand, func(i, j int) bool {
			if healthy[cand[i]] != healthy[cand[j]] {
				return !healthy[cand[i]]
			}
			return cand[i].CreatedAt.After(cand[j].CreatedAt)
		})
		for _, t := range cand {
			if excess == 0 {
				break
			}
			if healthy[t] {
				if budget <= 0 {
					break
				}
				budget--
			}
			p.stop = append(p.stop, stopOrder{t, fmt.Sprintf("service %s scaled in to %d tasks", name, desired)})
			excess--
		}
	}
	if n := len(p.launch); n > 0 {
		svc.AddEvent(now, "(service %s) has started %d tasks of %s: %s", name, n, p.launchRef, shortIDs(p.launch))
		p.changed = true
	}
	if n := len(p.stop) - countPrefix(p.stop, model.ReasonUnhealthy); n > 0 {
		var ids []string
		for _, o := range p.stop {
			if !strings.HasPrefix(o.reason, model.ReasonUnhealthy) {
				ids = append(ids, o.task.TaskID)
			}
		}
		svc.AddEvent(now, "(service %s) has stopped %d tasks: %s", name, n, shortIDs(ids))
		p.changed = true
	}

	// Deployment states.
	stopped := map[*model.Task]bool{}
	for _, o := range p.stop {
		stopped[o.task] = true
	}
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if d.Status != model.DeploymentActive {
			continue
		}
		if liveByRef[d.TaskDefinition] == 0 && stopping[d.TaskDefinition] == 0 && (prim == nil || d.TaskDefinition != prim.TaskDefinition) {
			d.Status, d.UpdatedAt, p.changed = model.DeploymentInactive, now, true
		}
	}
	steady := active && prim != nil && !frozen && len(p.launch) == 0 && len(p.stop) == 0 &&
		len(oldLive) == 0 && len(newLive) == desired && newHealthy == desired && sumMap(stopping) == 0
	if steady {
		if prim.RolloutState == model.RolloutInProgress {
			prim.RolloutState, prim.RolloutStateReason, prim.UpdatedAt = model.RolloutCompleted, "", now
			svc.AddEvent(now, "(service %s) (deployment %s) deployment completed.", name, prim.ID)
			p.changed = true
		}
		if !svc.Steady {
			svc.Steady = true
			svc.AddEvent(now, "(service %s) has reached a steady state.", name)
			p.changed = true
		}
	} else if svc.Steady {
		svc.Steady, p.changed = false, true
	}
	if !active && len(newLive)+len(oldLive) == 0 && sumMap(stopping) == 0 && len(p.stop) == 0 {
		p.remove = true
	}
	return p
}

func sumMap(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func countPrefix(orders []stopOrder, prefix string) int {
	n := 0
	for _, o := range orders {
		if strings.HasPrefix(o.reason, prefix) {
			n++
		}
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
