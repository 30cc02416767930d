package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

// stepStopped keeps a stopped task's containers for the retention, then
// removes them; it also stops any container that still runs (e.g. the
// control plane gave up on the node while it was cut off).
func (r *taskRunner) stepStopped(ctx context.Context) bool {
	for _, c := range r.cs {
		if c.status == model.ContainerRunning {
			r.stopContainers(ctx)
			break
		}
	}
	if !r.removed && !slices.ContainsFunc(r.cs, func(c *ctr) bool { return c.id != "" }) {
		r.removed = true // nothing to keep
	}
	if r.removed {
		return true
	}
	if !r.retireAt.IsZero() && !time.Now().Before(r.retireAt) {
		r.removeContainers(ctx)
		r.removed = true
		r.log.Debug("stopped task's containers removed after the retention")
		return true
	}
	return false
}

// opContext is a context for start work that is cancelled as soon as the
// task should stop.
func (r *taskRunner) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	octx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.cancelOp = cancel
	if r.deleted || r.localStop || r.latest.Task.DesiredStatus == model.StatusStopped {
		cancel()
	}
	r.mu.Unlock()
	return octx, func() {
		r.mu.Lock()
		r.cancelOp = nil
		r.mu.Unlock()
		cancel()
	}
}

// progress pulls, creates and starts what it can, then watches the
// essential containers.
func (r *taskRunner) progress(ctx context.Context) {
	octx, cancel := r.opContext(ctx)
	defer cancel()
	interrupted := func() bool { return ctx.Err() != nil || r.stopWanted() }

	if r.advance(model.StatusActivating) {
		now := time.Now().UTC()
		if r.pullStartedAt == nil {
			r.pullStartedAt = &now
		}
		r.report()
	}
	// Images, for the containers still to create.
	pulled := map[string]bool{}
	for _, c := range r.cs {
		if c.id != "" || c.started || pulled[c.def.Image+"|"+c.def.PullPolicy()] {
			continue
		}
		if err := r.a.rt.EnsureImage(octx, c.def.Image, c.def.PullPolicy()); err != nil {
			if interrupted() {
				return
			}
			r.fail(c, "CannotPullContainerError", err)
			return
		}
		pulled[c.def.Image+"|"+c.def.PullPolicy()] = true
	}
	// Containers.
	for _, c := range r.cs {
		if c.id != "" || c.started {
			continue
		}
		spec, err := r.spec(c)
		if err != nil {
			r.fail(c, "CannotCreateContainerError", err)
			return
		}
		id, err := r.a.rt.Create(octx, spec)
		if err != nil {
			if interrupted() {
				return
			}
			r.fail(c, "CannotCreateContainerError", err)
			return
		}
		c.id, c.status = id, model.ContainerCreated
		r.log.Debug("container created", "container", c.def.Name, "containerId", shortID(id))
	}
	// Start in dependency order, as far as the conditions allow now.
	for moved := true; moved; {
		moved = false
		for _, c := range r.cs {
			if c.status != model.ContainerCreated || c.started {
				continue
			}
			ready, why := r.dependenciesMet(c)
			if why != "" {
				r.failWith(model.StopTaskFailedToStart, why)
				return
			}
			if !ready {
				if c.waitSince.IsZero() {
					c.waitSince = time.Now()
				}
				if c.def.StartTimeout != nil && time.Since(c.waitSince) >= time.Duration(*c.def.StartTimeout)*time.Second {
					r.failWith(model.StopTaskFailedToStart, fmt.Sprintf("container %s: dependency conditions not met within its startTimeout of %ds", c.def.Name, *c.def.StartTimeout))
					return
				}
				continue
			}
			if err := r.a.rt.Start(octx, c.id); err != nil {
				if interrupted() {
					return
				}
				r.fail(c, "CannotStartContainerError", err)
				// The runtime may record more (e.g. an exit code).
				if st, ierr := r.a.rt.Inspect(ctx, c.id); ierr == nil && st.Status == runtime.StatusExited {
					c.apply(st)
				}
				return
			}
			st, err := r.a.rt.Inspect(ctx, c.id)
			if err != nil {
				c.status, c.started = model.ContainerRunning, true
				r.retryLater()
			} else {
				c.apply(st)
				c.started = true
			}
			r.log.Debug("container started", "container", c.def.Name)
			moved = true
		}
	}
	// An essential container that exited stops the task.
	for _, c := range r.cs {
		if c.def.IsEssential() && c.started && c.status == model.ContainerStopped {
			code := "unknown"
			if c.exitCode != nil {
				code = fmt.Sprint(*c.exitCode)
			}
			r.event("Essential container %s exited with code %s", c.def.Name, code)
			r.failWith(model.StopEssentialContainerExited, "Essential container in task exited")
			return
		}
	}
	if r.known == model.StatusActivating && r.essentialsStarted() {
		r.advance(model.StatusRunning)
		if r.startedAt == nil {
			now := time.Now().UTC()
			r.startedAt = &now
		}
		r.log.Info("task running")
	}
}

func (r *taskRunner) essentialsStarted() bool {
	found := false
	for _, c := range r.cs {
		if c.def.IsEssential() {
			found = true
			if !c.started {
				return false
			}
		}
	}
	if !found { // not valid in ECS; treat every container as needed
		for _, c := range r.cs {
			if !c.started {
				return false
			}
		}
	}
	return true
}

// dependenciesMet reports whether c may start now; why is set when it never
// can.
func (r *taskRunner) dependenciesMet(c *ctr) (ready bool, why string) {
	ready = true
	for _, dep := range c.def.DependsOn {
		d := r.byName(dep.ContainerName)
		if d == nil {
			return false, fmt.Sprintf("container %s depends on %s, which is not in the task definition", c.def.Name, dep.ContainerName)
		}
		exited := d.started && d.status == model.ContainerStopped
		code := -1
		if d.exitCode != nil {
			code = *d.exitCode
		}
		switch strings.ToUpper(dep.Condition) {
		case model.DependStart, "":
			ready = ready && d.started
		case model.DependComplete:
			ready = ready && exited
		case model.DependSuccess:
			if exited && code != 0 {
				return false, fmt.Sprintf("Dependency condition not met: container %s needs %s to succeed (SUCCESS), but it exited with code %d", c.def.Name, d.def.Name, code)
			}
			ready = ready && exited
		case model.DependHealthy:
			if d.def.HealthCheck == nil {
				return false, fmt.Sprintf("Dependency condition not met: container %s needs %s to be HEALTHY, but %s has no health check", c.def.Name, d.def.Name, d.def.Name)
			}
			if exited {
				return false, fmt.Sprintf("Dependency condition not met: container %s needs %s to be HEALTHY, but it exited with code %d", c.def.Name, d.def.Name, code)
			}
			ready = ready && d.health == model.HealthHealthy
		default:
			return false, fmt.Sprintf("container %s: unknown dependency condition %q (want START, COMPLETE, SUCCESS or HEALTHY)", c.def.Name, dep.Condition)
		}
	}
	return ready, ""
}

// stopTask stops every container and reaches STOPPED.
func (r *taskRunner) stopTask(ctx context.Context) {
	r.mu.Lock()
	local, desired := r.localStop, r.latest.Task.DesiredStatus
	r.mu.Unlock()
	if local && !r.failing && desired != model.StatusStopped && r.stopCode == "" {
		r.stopCode = model.StopUserInitiated
		r.stopReason = fmt.Sprintf("Agent on node %s stopped all its containers", r.a.node)
	}
	r.relist(ctx)
	if r.anyRunning() {
		if r.advance(model.StatusStopping) {
			r.report()
		}
		r.stopContainers(ctx)
		if ctx.Err() != nil {
			return
		}
	}
	r.refresh(ctx)
	if r.anyRunning() {
		r.log.Warn("containers still running after stop; retrying")
		r.retryLater()
		return
	}
	r.advance(model.StatusStopped)
	for _, c := range r.cs {
		if c.status == model.ContainerPending || c.status == model.ContainerCreated {
			c.status = model.ContainerStopped // never started
		}
	}
	now := time.Now().UTC()
	if r.stoppedAt == nil {
		r.stoppedAt = &now
	}
	r.retireAt = now.Add(r.a.cfg.StoppedRetention)
	r.usage = nil
	reason := r.stopReason
	if r.task.StopCode != "" {
		reason = r.task.StoppedReason
	}
	r.log.Info("task stopped", "stopCode", r.effectiveStopCode(), "reason", reason)
	r.markStopped()
}

func (r *taskRunner) markStopped() {
	r.stoppedOnce.Do(func() { close(r.stoppedC) })
}

func (r *taskRunner) effectiveStopCode() string {
	if r.task.StopCode != "" {
		return r.task.StopCode
	}
	return r.stopCode
}

func (r *taskRunner) anyRunning() bool {
	for _, c := range r.cs {
		if c.status == model.ContainerRunning {
			return true
		}
	}
	return false
}

// stopContainers stops running containers in waves, dependents before the
// containers they depend on, each with its stop timeout.
func (r *taskRunner) stopContainers(ctx context.Context) {
	remaining := map[*ctr]bool{}
	for _, c := range r.cs {
		if c.id != "" && c.status == model.ContainerRunning {
			remaining[c] = true
		}
	}
	for len(remaining) > 0 && ctx.Err() == nil {
		var wave []*ctr
		for c := range remaining {
			needed := false
			for d := range remaining {
				for _, dep := range d.def.DependsOn {
					if d != c && dep.ContainerName == c.def.Name {
						needed = true
					}
				}
			}
			if !needed {
				wave = append(wave, c)
			}
		}
		if len(wave) == 0 { // a cycle; stop the rest together
			for c := range remaining {
				wave = append(wave, c)
			}
		}
		var wg sync.WaitGroup
		for _, c := range wave {
			delete(remaining, c)
			wg.Go(func() {
				if err := r.a.rt.Stop(ctx, c.id, c.def.StopTimeoutOrDefault()); err != nil && !errors.Is(err, runtime.ErrNotFound) && ctx.Err() == nil {
					r.log.Warn("cannot stop container", "container", c.def.Name, "err", err)
				}
			})
		}
		wg.Wait()
	}
	r.refresh(ctx)
}

// removeContainers removes the task's containers and scratch volumes.
func (r *taskRunner) removeContainers(ctx context.Context) {
	r.relist(ctx)
	for _, c := range r.cs {
		if c.id == "" {
			continue
		}
		if err := r.a.rt.Remove(ctx, c.id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			r.log.Warn("cannot remove container", "container", c.def.Name, "err", err)
		}
	}
	removeScratch(r.id)
}
