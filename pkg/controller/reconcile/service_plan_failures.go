package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// failures are the failed tasks that the circuit breaker and the restart
// backoff count.
type failures struct {
	// primary counts the primary deployment's tasks that failed since it
	// started (the circuit breaker's input); reasons holds up to three
	// distinct reasons among them.
	primary int
	reasons []string
	// since is the start of the backoff window: serviceBackoffWindow ago,
	// or when the primary deployment started if that is later.
	since time.Time
	// recent counts the tasks of any deployment that failed since then,
	// and last is the one that stopped last (the backoff's input).
	recent int
	last   *model.Task
}

// countFailures counts the failed tasks among tasks (oldest first).
func countFailures(prim *model.Deployment, tasks []*model.Task, now time.Time) failures {
	f := failures{since: now.Add(-serviceBackoffWindow)}
	if prim != nil && prim.CreatedAt.After(f.since) {
		f.since = prim.CreatedAt
	}
	for _, t := range tasks {
		if !model.TaskFailed(t) {
			continue
		}
		if prim != nil && model.TaskRef(t) == prim.TaskDefinition && !t.CreatedAt.Before(prim.CreatedAt) {
			f.primary++
			if r := failureText(t); len(f.reasons) < 3 && !slices.Contains(f.reasons, r) {
				f.reasons = append(f.reasons, r)
			}
		}
		if t.StoppedAt != nil && t.StoppedAt.After(f.since) {
			f.recent++
			if f.last == nil || t.StoppedAt.After(*f.last.StoppedAt) {
				f.last = t
			}
		}
	}
	return f
}

// tripCircuitBreaker fails the primary deployment when too many of its
// tasks failed (ECS's deployment circuit breaker) and, with rollback,
// starts a deployment of the last completed one. It reports whether it
// tripped.
func (pl *planner) tripCircuitBreaker() bool {
	svc, prim, cb := pl.svc, pl.prim, pl.svc.CircuitBreaker()
	if !pl.active || prim == nil || !cb.Enable || prim.RolloutState != model.RolloutInProgress ||
		prim.FailedTasks < model.CircuitBreakerThreshold(pl.desired) {
		return false
	}
	name, now := svc.ServiceName, pl.now
	why := fmt.Sprintf("%d tasks failed to start: %s", prim.FailedTasks, strings.Join(pl.fails.reasons, "; "))
	prim.RolloutState, prim.RolloutStateReason, prim.UpdatedAt = model.RolloutFailed, "deployment circuit breaker: "+why, now
	target := svc.LastCompleted(prim.ID)
	switch {
	case cb.Rollback && target != nil && target.TaskDefinition != prim.TaskDefinition:
		svc.AddEvent(now, "(service %s) rolling back: %s; returning to %s (deployment %s)", name, why, target.TaskDefinition, target.ID)
		failedID := prim.ID
		svc.TaskDefinition = target.TaskDefinition
		nd := svc.StartDeployment(now, target.TaskDefinition, target.TaskDefinitionArn, target.HealthChecked, pl.desired)
		nd.RolloutStateReason = "rollback of failed deployment " + failedID
		svc.RestartBackoff = nil
	case cb.Rollback:
		svc.AddEvent(now, "(service %s) deployment %s failed: %s; no completed deployment to roll back to", name, prim.ID, why)
	default:
		svc.AddEvent(now, "(service %s) deployment %s failed: %s", name, prim.ID, why)
	}
	return true
}

// backoffUntil is when replacements may start again after recent
// failures, the last of which stopped at lastStop: base x 2^(recent-1)
// later, at most serviceBackoffMax.
func backoffUntil(recent int, lastStop time.Time) (until time.Time, delay time.Duration) {
	delay = min(serviceBackoffBase<<min(recent-1, 20), serviceBackoffMax)
	return lastStop.Add(delay).UTC(), delay
}

// restartBackoff holds replacements back while tasks keep failing, records
// why on the service (once per failure count), and reports whether
// launches are blocked now.
func (pl *planner) restartBackoff() (blocked bool) {
	svc, f := pl.svc, pl.fails
	if f.recent == 0 {
		if svc.RestartBackoff != nil {
			svc.RestartBackoff, pl.plan.changed = nil, true
		}
		return false
	}
	until, delay := backoffUntil(f.recent, *f.last.StoppedAt)
	if !pl.now.Before(until) {
		return false
	}
	pl.wakeAt(until)
	if rb := svc.RestartBackoff; rb == nil || rb.Failures != f.recent {
		reason := failureText(f.last)
		svc.RestartBackoff = &model.RestartBackoff{Failures: f.recent, Until: until, Reason: reason}
		svc.AddEvent(pl.now, "(service %s) %d tasks failed in the last %s (last: %s); waiting %s before starting replacements",
			svc.ServiceName, f.recent, min(pl.now.Sub(f.since), serviceBackoffWindow).Round(time.Second), reason, delay.Round(time.Millisecond))
		pl.plan.changed = true
	}
	return true
}
