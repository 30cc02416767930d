package agent

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

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
	a  *Agent
	id string
	// secret is the task's part of its endpoint URLs (see taskendpoints.go).
	secret string
	log    *slog.Logger

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
	// protection is the task's scale-in protection as it last set it;
	// protVer counts changes and protSent is the last one reported.
	protection *model.ScaleInProtection
	protVer    int
	protSent   int
	// creds caches the task's AWS credentials (credentials.go).
	creds taskCreds

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
	quiet         bool      // take the next report as already sent (adopted STOPPED task)
	stoppedOnce   sync.Once
}

func newTaskRunner(a *Agent, as wire.Assignment) *taskRunner {
	r := &taskRunner{
		secret: newEndpointSecret(),
		// A restarted agent answers GET with the protection the server has.
		protection: protectionOf(as.Task),
		a:          a,
		id:         as.Task.TaskID,
		log:        a.log.With("task", as.Task.TaskID),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		stoppedC:   make(chan struct{}),
		latest:     as,
		updated:    true,
		task:       as.Task,
		def:        as.TaskDefinition,
		known:      model.StatusPending,
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
		r.log.Warn("cannot list the task's containers; retrying", "err", err, "retryIn", d.Round(time.Millisecond))
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
	r.log.Warn("task failed", "stopCode", code, "reason", reason)
	r.event("%s: %s", code, reason)
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
	r.mu.Lock()
	rep.Protection = r.protection
	protVer := r.protVer
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.protSent = max(r.protSent, protVer)
		r.mu.Unlock()
	}()
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
	if r.quiet {
		r.quiet = false
		return
	}
	rep.Event = strings.Join(r.events, "; ")
	r.events = nil
	r.a.rep.submit(rep)
}
