package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
)

// launchCount is how many tasks of the primary deployment to start: up to
// desired, within maxTotal tasks in all (maximumPercent).
func launchCount(desired, newLive, total, maxTotal int) int {
	return max(0, min(desired-newLive, maxTotal-total))
}

// rollForward launches new tasks of the primary deployment.
func (pl *planner) rollForward(c taskClasses, maxTotal int) {
	for range launchCount(pl.desired, len(c.newLive), len(c.newLive)+len(c.oldLive), maxTotal) {
		pl.plan.launch = append(pl.plan.launch, controller.NewTaskID())
	}
	pl.plan.launchRef = pl.prim.TaskDefinition
}

// pickStops takes tasks from cands, in order, up to limit: tasks that are
// not healthy freely, healthy ones while the budget of healthy tasks that
// may stop lasts. Callers list the unhealthy candidates first.
func pickStops(cands []*model.Task, healthy map[*model.Task]bool, limit int, budget *int) []*model.Task {
	var out []*model.Task
	for _, t := range cands {
		if len(out) == limit {
			break
		}
		if healthy[t] {
			if *budget <= 0 {
				break
			}
			*budget--
		}
		out = append(out, t)
	}
	return out
}

// stopOld stops old tasks (earlier deployments, draining nodes, a deleted
// service's): those not healthy at once, healthy ones while the healthy
// count stays at or above minimumHealthyPercent.
func (pl *planner) stopOld(c taskClasses, budget *int) {
	cands := append([]*model.Task(nil), c.oldLive...)
	sort.SliceStable(cands, func(i, j int) bool { return !c.healthy[cands[i]] && c.healthy[cands[j]] })
	for _, t := range pickStops(cands, c.healthy, len(cands), budget) {
		var why string
		switch {
		case !pl.active:
			why = "service " + pl.svc.ServiceName + " is being deleted"
		case t.NodeName != "" && pl.draining(t.NodeName):
			why = fmt.Sprintf("node %s is draining", t.NodeName)
		default:
			why = fmt.Sprintf("replaced by deployment %s (%s)", pl.prim.ID, pl.prim.TaskDefinition)
		}
		pl.plan.stop = append(pl.plan.stop, stopOrder{t, why})
	}
}

// scaleIn stops the primary deployment's tasks beyond desired: not yet
// healthy ones first, then the idlest (least CPU in their last usage
// sample), then the newest. A task protected from scale-in is never
// stopped: the service stays above desired until its protection ends.
func (pl *planner) scaleIn(c taskClasses, budget *int) {
	excess := len(c.newLive) - pl.desired
	if excess <= 0 {
		return
	}
	cands := make([]*model.Task, 0, len(c.newLive))
	for _, t := range c.newLive {
		if t.ScaleInProtected(pl.now) {
			pl.wakeAt(*t.ProtectedUntil)
			continue
		}
		cands = append(cands, t)
	}
	cpu := func(t *model.Task) float64 {
		if t.Usage == nil {
			return 0
		}
		return t.Usage.CPUPercent
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if c.healthy[cands[i]] != c.healthy[cands[j]] {
			return !c.healthy[cands[i]]
		}
		if a, b := cpu(cands[i]), cpu(cands[j]); a != b {
			return a < b
		}
		return cands[i].CreatedAt.After(cands[j].CreatedAt)
	})
	for _, t := range pickStops(cands, c.healthy, excess, budget) {
		pl.plan.stop = append(pl.plan.stop, stopOrder{t, fmt.Sprintf("service %s scaled in to %d tasks", pl.svc.ServiceName, pl.desired)})
	}
}

// reportActions adds the service events for the tasks the plan starts and
// stops (unhealthy tasks have their own events).
func (pl *planner) reportActions() {
	name, p := pl.svc.ServiceName, &pl.plan
	if n := len(p.launch); n > 0 {
		pl.svc.AddEvent(pl.now, "(service %s) has started %d tasks of %s: %s", name, n, p.launchRef, shortIDs(p.launch))
		p.changed = true
	}
	var ids []string
	for _, o := range p.stop {
		if !strings.HasPrefix(o.reason, model.ReasonUnhealthy) {
			ids = append(ids, o.task.TaskID)
		}
	}
	if len(ids) > 0 {
		pl.svc.AddEvent(pl.now, "(service %s) has stopped %d tasks: %s", name, len(ids), shortIDs(ids))
		p.changed = true
	}
}

// updateDeployments retires ACTIVE deployments with no tasks left, and
// completes the primary deployment once the service is steady: the
// desired number of its tasks healthy, nothing else running or stopping,
// nothing to do.
func (pl *planner) updateDeployments(c taskClasses, frozen bool) {
	svc, prim, now := pl.svc, pl.prim, pl.now
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if d.Status != model.DeploymentActive {
			continue
		}
		if c.liveByRef[d.TaskDefinition] == 0 && c.stopping[d.TaskDefinition] == 0 && (prim == nil || d.TaskDefinition != prim.TaskDefinition) {
			d.Status, d.UpdatedAt, pl.plan.changed = model.DeploymentInactive, now, true
		}
	}
	steady := pl.active && prim != nil && !frozen && len(pl.plan.launch) == 0 && len(pl.plan.stop) == 0 &&
		len(c.oldLive) == 0 && len(c.newLive) == pl.desired && c.newHealthy == pl.desired && sumMap(c.stopping) == 0
	switch {
	case steady:
		if prim.RolloutState == model.RolloutInProgress {
			prim.RolloutState, prim.RolloutStateReason, prim.UpdatedAt = model.RolloutCompleted, "", now
			prim.ReplaceTasks = nil
			svc.AddEvent(now, "(service %s) (deployment %s) deployment completed.", svc.ServiceName, prim.ID)
			pl.plan.changed = true
		}
		if !svc.Steady {
			svc.Steady = true
			svc.AddEvent(now, "(service %s) has reached a steady state.", svc.ServiceName)
			pl.plan.changed = true
		}
	case svc.Steady:
		svc.Steady, pl.plan.changed = false, true
	}
}
