package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/api/wire"
)

// applySnapshot makes the running set match the node's complete assignment
// set: new tasks start, tasks missing from it are stopped and removed, and
// containers no assigned task owns (strays from an earlier run) are stopped
// and removed.
func (a *Agent) applySnapshot(ctx context.Context, list []wire.Assignment) {
	seen := make(map[string]bool, len(list))
	for _, as := range list {
		seen[as.Task.TaskID] = true
		a.applyAssignment(ctx, as)
	}
	a.mu.Lock()
	var gone []string
	for id := range a.tasks {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	first := !a.synced
	a.synced = true
	a.mu.Unlock()
	for _, id := range gone {
		a.deleteTask(ctx, id)
	}
	a.log.Debug("assignment snapshot applied", "tasks", len(list), "removed", len(gone), "first", first)
	a.sweepStrays(ctx)
}

// applyAssignment starts a runner for a new task or hands a changed
// assignment to the task's runner.
func (a *Agent) applyAssignment(ctx context.Context, as wire.Assignment) {
	id := as.Task.TaskID
	if id == "" {
		a.log.Warn("ignoring an assignment without a task id")
		return
	}
	if as.Task.NodeName != "" && as.Task.NodeName != a.node {
		a.log.Warn("assignment names another node; running it anyway", "task", id, "assignedNode", as.Task.NodeName)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.tasks[id]; r != nil {
		r.update(as)
		return
	}
	if ctx.Err() != nil {
		return
	}
	r := newTaskRunner(a, as)
	if a.stoppingAll {
		r.localStop = true
	}
	a.tasks[id] = r
	a.endpoints[r.secret] = r
	a.taskWG.Go(func() { r.run(ctx) })
}

// deleteTask handles a task that is no longer assigned: its containers are
// stopped and removed and the agent forgets it.
func (a *Agent) deleteTask(ctx context.Context, id string) {
	a.rep.forget(id)
	a.mu.Lock()
	r := a.tasks[id]
	a.mu.Unlock()
	if r == nil {
		return
	}
	if !r.markDeleted() {
		return
	}
	// The runner's goroutine already finished (stopped task whose
	// containers were removed after the retention): forget it here.
	a.mu.Lock()
	if a.tasks[id] == r {
		delete(a.tasks, id)
	}
	a.mu.Unlock()
}

// forgetTask removes a finished runner.
func (a *Agent) forgetTask(r *taskRunner) {
	a.mu.Lock()
	if a.tasks[r.id] == r {
		delete(a.tasks, r.id)
	}
	delete(a.endpoints, r.secret)
	a.mu.Unlock()
	a.rep.forget(r.id)
}

// sweepStrays stops and removes managed containers of this node whose task
// is not assigned. It only runs after a snapshot, so nothing is removed while
// the control plane is unreachable.
func (a *Agent) sweepStrays(ctx context.Context) {
	states, err := a.rt.List(ctx, a.selector())
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("cannot list containers to remove strays; will retry at the next snapshot", "err", err)
		}
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range states {
		task := st.Labels[runtime.LabelTask]
		if _, ok := a.tasks[task]; ok || a.sweeping[st.ID] {
			continue
		}
		a.sweeping[st.ID] = true
		a.taskWG.Go(func() {
			defer func() {
				a.mu.Lock()
				delete(a.sweeping, st.ID)
				a.mu.Unlock()
			}()
			log := a.log.With("task", task, "container", st.Labels[runtime.LabelContainer])
			log.Info("removing a container whose task is not assigned to this node", "containerId", shortID(st.ID), "status", st.Status)
			if st.Status == runtime.StatusRunning {
				if err := a.rt.Stop(ctx, st.ID, stopTimeoutOf(st)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
					log.Warn("cannot stop stray container", "err", err)
					return
				}
			}
			if err := a.rt.Remove(ctx, st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				log.Warn("cannot remove stray container", "err", err)
			}
		})
	}
}

// watchRuntime follows the runtime's events and routes them to task
// runners. When the stream breaks (e.g. the engine restarted) it
// re-subscribes with backoff and makes every task re-inspect its containers.
func (a *Agent) watchRuntime(ctx context.Context, subscribed chan<- struct{}) {
	b := newBackoff(a.minBackoff, a.maxBackoff)
	first := true
	for {
		since := time.Now()
		evs, errs := a.rt.Events(ctx)
		if first {
			close(subscribed)
			first = false
		} else {
			a.resyncAll()
		}
		err := a.consumeRuntimeEvents(ctx, evs, errs)
		if ctx.Err() != nil {
			return
		}
		if time.Since(since) > 10*time.Second {
			b.reset()
		}
		d := b.next()
		a.log.Warn("runtime event stream broke; re-subscribing and re-inspecting containers", "err", err, "retryIn", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

func (a *Agent) consumeRuntimeEvents(ctx context.Context, evs <-chan runtime.Event, errs <-chan error) error {
	for evs != nil || errs != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			if !a.ours(ev.Labels) {
				continue
			}
			a.mu.Lock()
			r := a.tasks[ev.Labels[runtime.LabelTask]]
			a.mu.Unlock()
			if r != nil {
				r.markDirty()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	return errors.New("runtime event stream ended")
}

// resyncAll makes every task re-inspect its containers.
func (a *Agent) resyncAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.tasks {
		r.markDirty()
	}
}

// statsLoop asks every running task for a usage sample each StatsInterval,
// all at once so that their reports share one batch.
func (a *Agent) statsLoop(ctx context.Context) {
	iv := a.cfg.StatsInterval
	if iv < 0 {
		return
	}
	// A random phase spreads many agents' samples over the interval.
	if !sleepCtx(ctx, time.Duration(rand.Int64N(int64(iv)))) {
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		a.mu.Lock()
		for _, r := range a.tasks {
			r.requestSample()
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
