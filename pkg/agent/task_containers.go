package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

// ctr is one container of the task.
type ctr struct {
	def       *model.ContainerDefinition
	id        string
	status    string // model.Container*
	started   bool   // has run at some point
	exitCode  *int
	reason    string
	health    string // "" (no check), HEALTHY, UNHEALTHY, UNKNOWN
	bindings  []model.NetworkBinding
	waitSince time.Time // when it started waiting for dependencies
}

// adopt finds the task's containers left by an earlier run (no restart, no
// duplicates) and takes the control plane's view of what already happened.
func (r *taskRunner) adopt(ctx context.Context) error {
	states, err := r.a.rt.List(ctx, r.a.selector(runtime.LabelTask, r.id))
	if err != nil {
		return err
	}
	var extra []runtime.State
	for _, st := range states {
		r.adoptSecret(st.Labels[LabelEndpointSecret])
		c := r.byName(st.Labels[runtime.LabelContainer])
		switch {
		case c == nil:
			extra = append(extra, st)
		case c.id == "":
			c.id = st.ID
			c.apply(st)
		case st.Status == runtime.StatusRunning && c.status != model.ContainerRunning:
			// Keep the running one of two duplicates.
			extra = append(extra, runtime.State{ID: c.id, Name: c.def.Name, Status: runtime.StatusExited})
			c.id = st.ID
			c.apply(st)
		default:
			extra = append(extra, st)
		}
	}
	for _, st := range extra {
		r.log.Warn("removing a duplicate or unknown container of the task", "container", st.Labels[runtime.LabelContainer], "containerId", shortID(st.ID))
		if st.Status == runtime.StatusRunning {
			_ = r.a.rt.Stop(ctx, st.ID, stopTimeoutOf(st))
		}
		_ = r.a.rt.Remove(ctx, st.ID)
	}
	// What the control plane already knows.
	t := r.task
	if model.StatusRank(t.LastStatus) > model.StatusRank(r.known) {
		r.known = t.LastStatus
	}
	r.pullStartedAt, r.startedAt, r.stoppedAt = t.PullStartedAt, t.StartedAt, t.StoppedAt
	adopted := 0
	for _, c := range r.cs {
		if c.id != "" {
			adopted++
			continue
		}
		// A container the control plane saw run but the runtime no
		// longer has is gone: never run it a second time.
		for _, sc := range t.Containers {
			if sc.Name != c.def.Name {
				continue
			}
			if sc.LastStatus == model.ContainerRunning || sc.LastStatus == model.ContainerStopped {
				c.status, c.started = model.ContainerStopped, true
				c.exitCode, c.reason = sc.ExitCode, sc.Reason
				c.health, c.bindings = sc.HealthStatus, sc.NetworkBindings
				if c.reason == "" && sc.LastStatus == model.ContainerRunning {
					c.reason = "container is no longer in the runtime"
				}
			}
		}
	}
	if r.known == model.StatusStopped {
		// The control plane already has the final state: do not send
		// it back (the containers may even be gone by now).
		r.quiet = !r.anyRunning()
		r.markStopped()
		at := time.Now()
		if r.stoppedAt != nil {
			at = *r.stoppedAt
		}
		r.retireAt = at.Add(r.a.cfg.StoppedRetention)
	}
	if adopted > 0 {
		r.log.Info("adopted containers from an earlier run", "containers", adopted, "lastStatus", r.known)
	}
	return nil
}

func (r *taskRunner) byName(name string) *ctr {
	for _, c := range r.cs {
		if c.def.Name == name {
			return c
		}
	}
	return nil
}

// apply takes a runtime state into the container's known state.
func (c *ctr) apply(st runtime.State) {
	switch st.Status {
	case runtime.StatusRunning:
		c.status, c.started = model.ContainerRunning, true
	case runtime.StatusExited:
		if !st.StartedAt.IsZero() {
			c.started = true
		}
		c.status = model.ContainerStopped
		code := st.ExitCode
		c.exitCode = &code
		switch {
		case st.OOMKilled:
			c.reason = "OutOfMemoryError: Container killed due to memory usage"
		case st.Error != "":
			c.reason = st.Error
		}
	default:
		if !c.started && c.status != model.ContainerStopped {
			c.status = model.ContainerCreated
		}
	}
	switch {
	case st.Status == runtime.StatusExited:
		// Docker marks a stopped container's check "unhealthy" because its
		// probes stopped, which says nothing about the app: keep the last
		// health seen while it ran, as ECS does (UNKNOWN if none was seen).
		if c.health == "" && c.def.HealthCheck != nil {
			c.health = model.HealthUnknown
		}
	case st.Health == "healthy":
		c.health = model.HealthHealthy
	case st.Health == "unhealthy":
		c.health = model.HealthUnhealthy
	case st.Health == "starting":
		c.health = model.HealthUnknown
	default:
		if c.def.HealthCheck != nil {
			c.health = model.HealthUnknown
		} else {
			c.health = ""
		}
	}
	if len(st.Ports) > 0 {
		c.bindings = c.bindings[:0]
		for _, p := range st.Ports {
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			c.bindings = append(c.bindings, model.NetworkBinding{BindIP: ip, ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: p.Protocol})
		}
	}
}

// refresh re-inspects every container.
func (r *taskRunner) refresh(ctx context.Context) {
	for _, c := range r.cs {
		if c.id == "" {
			continue
		}
		st, err := r.a.rt.Inspect(ctx, c.id)
		switch {
		case err == nil:
			prev := c.status
			c.apply(st)
			if prev == model.ContainerRunning && c.status == model.ContainerStopped {
				code := "?"
				if c.exitCode != nil {
					code = fmt.Sprint(*c.exitCode)
				}
				r.log.Info("container exited", "container", c.def.Name, "exitCode", code, "essential", c.def.IsEssential())
			}
		case errors.Is(err, runtime.ErrNotFound):
			if c.started {
				if c.status != model.ContainerStopped {
					c.status = model.ContainerStopped
					c.reason = "container was removed from the runtime"
					r.log.Warn("container disappeared from the runtime", "container", c.def.Name)
				}
			} else {
				c.id, c.status = "", model.ContainerPending // created again
			}
		case ctx.Err() != nil:
			return
		default:
			r.log.Warn("cannot inspect container; will retry", "container", c.def.Name, "err", err)
			r.retryLater()
		}
	}
}

func (r *taskRunner) retryLater() {
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
	at := time.Now().Add(time.Second)
	if r.retryAt.IsZero() || at.Before(r.retryAt) {
		r.retryAt = at
	}
}

// relist picks up containers the runner lost track of (e.g. a create that
// succeeded in the runtime while its call was being cancelled).
func (r *taskRunner) relist(ctx context.Context) {
	states, err := r.a.rt.List(ctx, r.a.selector(runtime.LabelTask, r.id))
	if err != nil {
		return
	}
	for _, st := range states {
		if c := r.byName(st.Labels[runtime.LabelContainer]); c != nil && c.id == "" {
			c.id = st.ID
			c.apply(st)
		}
	}
}

// sampleUsage sums the running containers' usage.
func (r *taskRunner) sampleUsage(ctx context.Context) {
	var u model.Usage
	n := 0
	for _, c := range r.cs {
		if c.id == "" || c.status != model.ContainerRunning {
			continue
		}
		st, err := r.a.rt.Stats(ctx, c.id)
		if err != nil {
			r.log.Debug("cannot sample usage", "container", c.def.Name, "err", err)
			continue
		}
		u.CPUPercent += st.CPUPercent
		u.MemoryBytes += st.MemoryBytes
		n++
	}
	if n == 0 {
		return
	}
	u.At = time.Now().UTC()
	r.usage = &u
}
