package reconcile

import (
	"fmt"

	"github.com/orch-project/orch/pkg/model"
)

// taskClasses sorts a service's tasks by what the plan may do with them.
type taskClasses struct {
	// newLive are the tasks that should run of the primary deployment and
	// not on a draining node; oldLive are the other tasks that should run
	// (earlier deployments, draining nodes, all of a deleted service's).
	newLive, oldLive       []*model.Task
	healthy                map[*model.Task]bool
	newHealthy, oldHealthy int
	// liveByRef and stopping count, per task definition, the tasks that
	// should run and those asked to stop that have not stopped yet.
	liveByRef map[string]int
	stopping  map[string]int
	// unhealthy are tasks that failed their health checks: stop and replace.
	unhealthy []stopOrder
}

// classify sorts the tasks that have not stopped. It asks to be woken when
// a task's grace period ends, since its health starts to count then.
func (pl *planner) classify() taskClasses {
	c := taskClasses{healthy: map[*model.Task]bool{}, liveByRef: map[string]int{}, stopping: map[string]int{}}
	grace := pl.svc.GracePeriod()
	for _, t := range pl.tasks {
		if t.IsStopped() {
			continue
		}
		ref := model.TaskRef(t)
		if t.DesiredStatus != model.StatusRunning {
			c.stopping[ref]++
			continue
		}
		hc := pl.healthChecked(ref)
		if model.TaskUnhealthy(t, hc, grace, pl.now) {
			c.unhealthy = append(c.unhealthy, stopOrder{t, fmt.Sprintf("%s: %s", model.ReasonUnhealthy, unhealthyContainers(t))})
			c.stopping[ref]++
			continue
		}
		if t.LastStatus == model.StatusRunning && t.StartedAt != nil && grace > 0 {
			pl.wakeAt(t.StartedAt.Add(grace))
		}
		c.liveByRef[ref]++
		c.healthy[t] = model.TaskHealthy(t, hc, grace, pl.now)
		if pl.active && pl.prim != nil && ref == pl.prim.TaskDefinition && (t.NodeName == "" || !pl.draining(t.NodeName)) && !pl.prim.Replaces(t) {
			c.newLive = append(c.newLive, t)
			if c.healthy[t] {
				c.newHealthy++
			}
		} else {
			c.oldLive = append(c.oldLive, t)
			if c.healthy[t] {
				c.oldHealthy++
			}
		}
	}
	return c
}

// healthChecked reports whether tasks of a task definition ref count as
// healthy only when their health checks pass.
func (pl *planner) healthChecked(ref string) bool {
	if d := deploymentByRef(pl.svc, ref); d != nil {
		return d.HealthChecked
	}
	return false
}

// replaceUnhealthy stops the unhealthy tasks (roll forward then launches
// their replacements) and says so in the service's events.
func (pl *planner) replaceUnhealthy(orders []stopOrder) {
	for _, o := range orders {
		pl.plan.stop = append(pl.plan.stop, o)
		pl.svc.AddEvent(pl.now, "(service %s) task %s failed container health checks (%s); replacing it", pl.svc.ServiceName, o.task.ShortID(), unhealthyContainers(o.task))
		pl.plan.changed = true
	}
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
