package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// taskRunner owns one task. Its goroutine (run) is the only one that
// changes the task's known state or calls the runtime for it; other
// goroutines hand it news (a changed assignment, a runtime event, a stop
// request) through the mutex-guarded inbox and a kick.
//
// The desired status comes from the control plane (task.DesiredStatus);
// the known status (known) is what the runner has observed and only moves
// forward: PENDING → ACTIVATING (pulling, creating, starting) → RUNNING
// (every essential container started) → STOPPING → STOPPED.
type taskRunner struct {
	a   *Agent
	id  string
	log *slog.Logger

	kick     chan struct{} // cap 1
	done     chan struct{} // closed when run returns
	stoppedC chan struct{} // closed when the task is known STOPPED

	// Inbox, guarded by mu.
	mu        sync.Mutex
	latest    wire.Assignment
	updated   bool
	deleted   bool
	localStop bool
	dirty     bool // re-inspect containers
	sample    bool // take a usage sample
	cancelOp  context.CancelFunc
	finished  bool // run returned for good (not because Run ended)

	// Owned by the run goroutine.
	task          model.Task // the control plane's view (desired status, stop code)
	def           model.TaskDefinition
	known         string
	cs            []*ctr
	failing       bool   // the agent decided to stop the task
	stopCode      string // the agent's stop code, reported unless the server has one
	stopReason    string
	pullStartedAt *time.Time
	startedAt     *time.Time
	stoppedAt     *time.Time
	usage         *model.Usage
	events        []string
	lastSent      *wire.TaskStatusReport
	retireAt      time.Time // when stopped containers are removed
	removed       bool      // containers removed after the retention
	retryAt       time.Time // when to retry after a runtime error
	stoppedOnce   sync.Once
}

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

func newTaskRunner(a *Agent, as wire.Assignment) *taskRunner {
	r := &taskRunner{
		a:        a,
		id:       as.Task.TaskID,
		log:      a.log.With("task", as.Task.TaskID),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		stoppedC: make(chan struct{}),
		latest:   as,
		updated:  true,
		task:     as.Task,
		def:      as.TaskDefinition,
		known:    model.StatusPending,
	}
	for i := range r.def.ContainerDefinitions {
		r.cs = append(r.cs, &ctr{def: &r.def.ContainerDefinitions[i], status: model.ContainerPending})
	}
	return r
}

// --- inbox (any goroutine) ---

func (r *taskRunner) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *taskRunner) update(as wire.Assignment) {
	r.mu.Lock()
	r.latest, r.updated = as, true
	if as.Task.DesiredStatus == model.StatusStopped && r.cancelOp != nil {
		r.cancelOp()
	}
	r.mu.Unlock()
	r.poke()
}

// markDeleted asks the runner to stop and remove everything and exit. It
// reports true when the runner had already finished, so the caller must
// forget it.
func (r *taskRunner) markDeleted() bool {
	r.mu.Lock()
	r.deleted = true
	if r.cancelOp != nil {
		r.cancelOp()
	}
	finished := r.finished
	r.mu.Unlock()
	r.poke()
	return finished
}

func (r *taskRunner) requestLocalStop() {
	r.mu.Lock()
	r.localStop = true
	if r.cancelOp != nil {
		r.cancelOp()
	}
	r.mu.Unlock()
	r.poke()
}

func (r *taskRunner) markDirty() {
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
	r.poke()
}

func (r *taskRunner) requestSample() {
	r.mu.Lock()
	r.sample = true
	r.mu.Unlock()
	r.poke()
}

// stopWanted reports whether anything asks the task to stop.
func (r *taskRunner) stopWanted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deleted || r.localStop || r.latest.Task.DesiredStatus == model.StatusStopped || r.failing
}

// --- the goroutine ---

func (r *taskRunner) run(ctx context.Context) {
	defer close(r.done)
	b := newBackoff(r.a.minBackoff, r.a.maxBackoff)
	for {
		err := r.adopt(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		d := b.next()
		r.log.Warn("cannot list the task's containers; retrying", "err", err, "retry_in", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.absorb(ctx)
		finished := r.step(ctx)
		r.report()
		if ctx.Err() != nil {
			return
		}
		if finished {
			r.mu.Lock()
			r.finished = true
			deleted := r.deleted
			r.mu.Unlock()
			if deleted {
				r.a.forgetTask(r)
			}
			return
		}
		timer.Stop()
		if wake := r.nextWake(); !wake.IsZero() {
			timer.Reset(max(time.Until(wake), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// absorb takes news from the inbox.
func (r *taskRunner) absorb(ctx context.Context) {
	r.mu.Lock()
	if r.updated {
		r.task = r.latest.Task
		r.updated = false
	}
	dirty, sample := r.dirty, r.sample
	r.dirty, r.sample = false, false
	r.mu.Unlock()
	if dirty {
		r.refresh(ctx)
	}
	if sample && r.known == model.StatusRunning {
		r.sampleUsage(ctx)
	}
}

func (r *taskRunner) nextWake() time.Time {
	var w time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (w.IsZero() || t.Before(w)) {
			w = t
		}
	}
	earliest(r.retryAt)
	if r.known == model.StatusStopped && !r.removed {
		earliest(r.retireAt)
	}
	if r.known != model.StatusStopped {
		for _, c := range r.cs {
			if c.status == model.ContainerCreated && !c.started && c.def.StartTimeout != nil && !c.waitSince.IsZero() {
				earliest(c.waitSince.Add(time.Duration(*c.def.StartTimeout) * time.Second))
			}
		}
	}
	return w
}

// step makes all the progress it can and reports whether the runner is done.
func (r *taskRunner) step(ctx context.Context) bool {
	r.retryAt = time.Time{}
	r.mu.Lock()
	deleted := r.deleted
	r.mu.Unlock()
	switch {
	case deleted:
		r.stopContainers(ctx)
		if ctx.Err() != nil {
			return false
		}
		r.removeContainers(ctx)
		r.log.Info("task unassigned; containers removed")
		return true
	case r.known == model.StatusStopped:
		return r.stepStopped(ctx)
	case r.stopWanted():
		r.stopTask(ctx)
		return false
	default:
		r.progress(ctx)
		if r.stopWanted() {
			r.stopTask(ctx)
		}
		return false
	}
}

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

// adopt finds the task's containers left by an earlier run (no restart, no
// duplicates) and takes the control plane's view of what already happened.
func (r *taskRunner) adopt(ctx context.Context) error {
	states, err := r.a.rt.List(ctx, map[string]string{runtime.LabelTask: r.id, runtime.LabelNode: r.a.node})
	if err != nil {
		return err
	}
	var extra []runtime.State
	for _, st := range states {
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
		r.log.Warn("removing a duplicate or unknown container of the task", "container", st.Labels[runtime.LabelContainer], "id", shortID(st.ID))
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
			if sc.Name == c.def.Name && (sc.LastStatus == model.ContainerRunning || sc.LastStatus == model.ContainerStopped) {
				c.status, c.started = model.ContainerStopped, true
				c.exitCode, c.reason = sc.ExitCode, sc.Reason
				if c.reason == "" {
					c.reason = "container is no longer in the runtime"
				}
			}
		}
	}
	if r.known == model.StatusStopped {
		r.markStopped()
		at := time.Now()
		if r.stoppedAt != nil {
			at = *r.stoppedAt
		}
		r.retireAt = at.Add(r.a.cfg.StoppedRetention)
	}
	if adopted > 0 {
		r.log.Info("adopted containers from an earlier run", "containers", adopted, "last_status", r.known)
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
	switch st.Health {
	case "healthy":
		c.health = model.HealthHealthy
	case "unhealthy":
		c.health = model.HealthUnhealthy
	case "starting":
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
				r.log.Info("container exited", "container", c.def.Name, "exit_code", code, "essential", c.def.IsEssential())
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

// advance moves the known status forward; it reports whether it moved.
func (r *taskRunner) advance(s string) bool {
	if model.StatusRank(s) <= model.StatusRank(r.known) {
		return false
	}
	r.log.Debug("task status", "from", r.known, "to", s)
	r.known = s
	return true
}

func (r *taskRunner) event(format string, args ...any) {
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

// fail stops the task with TaskFailedToStart.
func (r *taskRunner) fail(c *ctr, prefix string, err error) {
	msg := prefix + ": " + err.Error()
	if c != nil {
		c.reason = msg
	}
	r.failWith(model.StopTaskFailedToStart, msg)
}

func (r *taskRunner) failWith(code, reason string) {
	if r.failing {
		return
	}
	r.mu.Lock()
	r.failing = true
	r.mu.Unlock()
	r.stopCode, r.stopReason = code, reason
	r.log.Warn("task failed", "stop_code", code, "reason", reason)
	r.event("%s: %s", code, reason)
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
		r.log.Debug("container created", "container", c.def.Name, "id", shortID(id))
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
	any := false
	for _, c := range r.cs {
		if c.def.IsEssential() {
			any = true
			if !c.started {
				return false
			}
		}
	}
	if !any { // not valid in ECS; treat every container as needed
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
	r.log.Info("task stopped", "stop_code", r.effectiveStopCode(), "reason", reason)
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

// relist picks up containers the runner lost track of (e.g. a create that
// succeeded in the runtime while its call was being cancelled).
func (r *taskRunner) relist(ctx context.Context) {
	states, err := r.a.rt.List(ctx, map[string]string{runtime.LabelTask: r.id, runtime.LabelNode: r.a.node})
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

// health is the task's health: UNHEALTHY if any essential container with a
// check is unhealthy, HEALTHY if all of them are healthy, else UNKNOWN.
func (r *taskRunner) health() string {
	checked, healthy := false, true
	for _, c := range r.cs {
		if !c.def.IsEssential() || c.def.HealthCheck == nil {
			continue
		}
		checked = true
		if c.health == model.HealthUnhealthy {
			return model.HealthUnhealthy
		}
		if c.health != model.HealthHealthy {
			healthy = false
		}
	}
	if checked && healthy {
		return model.HealthHealthy
	}
	return model.HealthUnknown
}

// report sends the task's state when it changed since the last report.
func (r *taskRunner) report() {
	r.mu.Lock()
	deleted := r.deleted
	r.mu.Unlock()
	if deleted {
		return
	}
	rep := wire.TaskStatusReport{
		TaskID:        r.id,
		LastStatus:    r.known,
		HealthStatus:  r.health(),
		Usage:         r.usage,
		PullStartedAt: r.pullStartedAt,
		StartedAt:     r.startedAt,
		StoppedAt:     r.stoppedAt,
	}
	if r.task.StopCode == "" && r.stopCode != "" {
		rep.StopCode, rep.StoppedReason = r.stopCode, r.stopReason
	}
	for _, c := range r.cs {
		mc := model.Container{
			Name:         c.def.Name,
			Image:        c.def.Image,
			RuntimeID:    c.id,
			LastStatus:   c.status,
			ExitCode:     c.exitCode,
			Reason:       c.reason,
			HealthStatus: c.health,
			Essential:    c.def.IsEssential(),
		}
		if len(c.bindings) > 0 {
			mc.NetworkBindings = append([]model.NetworkBinding(nil), c.bindings...)
		}
		rep.Containers = append(rep.Containers, mc)
	}
	if len(r.events) == 0 && r.lastSent != nil && reflect.DeepEqual(*r.lastSent, rep) {
		return
	}
	cmp := rep
	r.lastSent = &cmp
	rep.Event = strings.Join(r.events, "; ")
	r.events = nil
	r.a.rep.submit(rep)
}
