package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// serviceResync bounds how long a service waits for a pass when nothing
// changes (a safety net: task, node and service changes trigger passes).
const serviceResync = 5 * time.Second

// serviceReconciler keeps every service at its desired count and drives
// its deployments. It runs only on the leader; every write is guarded by
// the election, and after each write it waits until its caches have seen
// it, so it never acts twice on one observation (no duplicate launches).
// All its state is in etcd (the service records and the tasks): a new
// leader continues a deployment where the old one stopped.
type serviceReconciler struct {
	cfg    Config
	leader *store.Leader
	log    *slog.Logger
	now    func() time.Time

	services *store.Cache[model.Service]
	tsub     *store.Subscription[model.Task]
	// tasks indexes the service tasks by service name and task id.
	tasks map[string]map[string]*model.Task
	tds   map[string]*model.TaskDefinition // "family:rev" -> immutable content
}

func newServiceReconciler(cfg Config, l *store.Leader, log *slog.Logger) *serviceReconciler {
	return &serviceReconciler{cfg: cfg, leader: l, log: log.With("loop", "services"), now: time.Now,
		tasks: map[string]map[string]*model.Task{}, tds: map[string]*model.TaskDefinition{}}
}

// relevant reports whether a task change can change a service's plan
// (usage samples and log events do not).
func relevant(ch store.Change[model.Task]) bool {
	t, p := ch.Obj, ch.Prev
	if t == nil || p == nil {
		return true
	}
	return t.LastStatus != p.LastStatus || t.DesiredStatus != p.DesiredStatus || t.HealthStatus != p.HealthStatus ||
		t.NodeName != p.NodeName || (t.StartedAt == nil) != (p.StartedAt == nil) || t.StopCode != p.StopCode ||
		(t.ProtectedUntil == nil) != (p.ProtectedUntil == nil)
}

func (r *serviceReconciler) run(ctx context.Context) {
	r.services = r.cfg.Store.ServiceCache()
	go r.services.Run(ctx)
	select {
	case <-ctx.Done():
		return
	case <-r.services.Ready():
	}
	ssub := r.services.Subscribe()
	defer ssub.Close()
	r.tsub = r.cfg.Caches.Tasks.SubscribeFilter(func(ch store.Change[model.Task]) bool {
		t := ch.Obj
		if t == nil {
			t = ch.Prev
		}
		return model.ServiceOf(t) != ""
	})
	defer r.tsub.Close()
	nsub := r.cfg.Caches.Nodes.Subscribe()
	defer nsub.Close()

	dirty := map[string]bool{}
	wakes := map[string]time.Time{} // service -> when its plan may change by itself
	resyncAt := r.now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ssub.C():
			for _, ch := range ssub.Drain() {
				dirty[ch.Key] = true
			}
		case <-r.tsub.C():
			r.absorb(dirty)
		case <-nsub.C():
			nsub.Drain()
			r.markAll(dirty)
		case <-timer.C:
		}
		// Decide on everything known: the subscription delivers the
		// current tasks first, and changes may queue behind other events.
		r.absorb(dirty)
		now := r.now()
		if !now.Before(resyncAt) {
			r.markAll(dirty)
			resyncAt = now.Add(serviceResync)
		}
		for name, at := range wakes {
			if !now.Before(at) {
				dirty[name] = true
			}
		}
		for len(dirty) > 0 {
			for name := range dirty {
				delete(dirty, name)
				delete(wakes, name)
				next, err := r.reconcile(ctx, name, dirty)
				if errors.Is(err, store.ErrNotLeader) || ctx.Err() != nil {
					return
				}
				if err != nil {
					r.log.Warn("service pass failed; retrying", "service", name, "err", err)
					next = now.Add(time.Second)
				}
				if !next.IsZero() {
					wakes[name] = next
				}
			}
		}
		wake := resyncAt
		for _, at := range wakes {
			if at.Before(wake) {
				wake = at
			}
		}
		timer.Reset(max(wake.Sub(r.now()), 5*time.Millisecond))
	}
}

func (r *serviceReconciler) markAll(dirty map[string]bool) {
	for _, s := range r.services.List() {
		dirty[s.ServiceName] = true
	}
	for name := range r.tasks {
		dirty[name] = true
	}
}

// absorb moves queued task changes into the index.
func (r *serviceReconciler) absorb(dirty map[string]bool) {
	for _, ch := range r.tsub.Drain() {
		t := ch.Obj
		if t == nil {
			t = ch.Prev
		}
		name := model.ServiceOf(t)
		m := r.tasks[name]
		if ch.Obj == nil {
			delete(m, ch.Key)
			if len(m) == 0 {
				delete(r.tasks, name)
			}
		} else {
			if m == nil {
				m = map[string]*model.Task{}
				r.tasks[name] = m
			}
			m[ch.Key] = ch.Obj
		}
		if relevant(ch) {
			dirty[name] = true
		}
	}
}

func (r *serviceReconciler) draining(node string) bool {
	n := r.cfg.Caches.Nodes.Get(node)
	return n != nil && n.Status == model.NodeDraining
}

func (r *serviceReconciler) taskList(name string) []*model.Task {
	m := r.tasks[name]
	out := make([]*model.Task, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	return out
}

// reconcile runs one pass for a service and returns when it wants the next
// one without any change.
func (r *serviceReconciler) reconcile(ctx context.Context, name string, dirty map[string]bool) (time.Time, error) {
	cached := r.services.Get(name)
	if cached == nil {
		return time.Time{}, r.stopOrphans(ctx, name, dirty)
	}
	now := r.now()
	svc := cloneService(cached)
	plan := planService(svc, r.taskList(name), r.draining, now)
	if plan.changed || plan.remove {
		// Decide again on the stored record, writing it conditionally on
		// its revision and on this process leading.
		fresh, err := r.cfg.Store.UpdateService(ctx, name, r.leader.Guard(), func(s *model.Service) (bool, error) {
			plan = planService(s, r.taskList(name), r.draining, now)
			return plan.changed, nil
		})
		if errors.Is(err, model.ErrNotFound) {
			return time.Time{}, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		if plan.remove {
			if err := r.cfg.Store.DeleteService(ctx, name, fresh.ModRevision, r.leader.Guard(), fresh); err != nil {
				if errors.Is(err, model.ErrConflict) {
					dirty[name] = true
					return time.Time{}, nil
				}
				return time.Time{}, err
			}
			r.log.Info("service deleted", "service", name)
		}
		if err := r.services.WaitRevision(ctx, fresh.ModRevision); err != nil {
			return time.Time{}, err
		}
		svc = fresh
	}
	var maxRev int64
	if len(plan.stop) > 0 {
		writes := make([]*model.Task, 0, len(plan.stop))
		for _, o := range plan.stop {
			writes = append(writes, stopForService(o.task, o.reason, now))
		}
		conflicts, err := r.cfg.Store.CommitTasks(ctx, writes, r.leader.Guard())
		if err != nil {
			return time.Time{}, err
		}
		if len(conflicts) > 0 {
			dirty[name] = true // re-decide with what changed
		}
		for _, t := range writes {
			maxRev = max(maxRev, t.ModRevision)
		}
		r.log.Debug("service stopped tasks", "service", name, "count", len(writes)-len(conflicts))
	}
	if len(plan.launch) > 0 {
		td, err := r.taskDef(ctx, plan.launchRef)
		if err != nil {
			return time.Time{}, err
		}
		tasks := make([]*model.Task, len(plan.launch))
		for i, id := range plan.launch {
			t := controller.NewTask(td, model.RunTaskInput{Group: model.ServiceGroup(name), StartedBy: model.ServiceGroup(name),
				PlacementStrategy: svc.PlacementStrategy, PlacementConstraints: svc.PlacementConstraints}, r.now())
			t.TaskID, t.TaskArn = id, model.TaskArnFor(id)
			tasks[i] = t
		}
		rev, err := r.cfg.Store.CreateTasksGuarded(ctx, tasks, r.leader.Guard())
		if err != nil {
			return time.Time{}, err
		}
		maxRev = max(maxRev, rev)
		r.log.Debug("service started tasks", "service", name, "count", len(tasks), "taskDefinition", plan.launchRef)
	}
	if maxRev > 0 {
		// Read our own writes before deciding again.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.cfg.Caches.Tasks.WaitRevision(wctx, maxRev)
		cancel()
		if err != nil {
			return time.Time{}, err
		}
		r.absorb(dirty)
		dirty[name] = true
	}
	return plan.wake, nil
}

// stopOrphans stops live tasks of a service that no longer exists.
func (r *serviceReconciler) stopOrphans(ctx context.Context, name string, dirty map[string]bool) error {
	var writes []*model.Task
	now := r.now()
	for _, t := range r.tasks[name] {
		if !t.IsStopped() && t.DesiredStatus == model.StatusRunning {
			writes = append(writes, stopForService(t, "service "+name+" no longer exists", now))
		}
	}
	if len(writes) == 0 {
		return nil
	}
	conflicts, err := r.cfg.Store.CommitTasks(ctx, writes, r.leader.Guard())
	if len(conflicts) > 0 {
		dirty[name] = true
	}
	return err
}

// stopForService is Tasks.Stop for the service scheduler.
func stopForService(t *model.Task, reason string, now time.Time) *model.Task {
	w := controller.CloneTask(t)
	now = now.UTC()
	w.DesiredStatus = model.StatusStopped
	if w.StopCode == "" {
		w.StopCode, w.StoppedReason = model.StopServiceSchedulerInitiated, reason
	}
	if !w.IsPlaced() {
		w.Stop(now, model.StopServiceSchedulerInitiated, reason)
		return w
	}
	w.StoppingAt = &now
	w.AddEvent(now, "stop requested by the service scheduler: %s", reason)
	return w
}

func (r *serviceReconciler) taskDef(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	if td := r.tds[ref]; td != nil {
		return td, nil
	}
	td, err := controller.NewTaskDefs(r.cfg.Store).Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	r.tds[ref] = td
	return td, nil
}

// cloneService copies a service deep enough to modify its deployments and
// events without touching the cached original.
func cloneService(s *model.Service) *model.Service {
	c := *s
	c.Deployments = append([]model.Deployment(nil), s.Deployments...)
	c.Events = append([]model.ServiceEvent(nil), s.Events...)
	if s.RestartBackoff != nil {
		rb := *s.RestartBackoff
		c.RestartBackoff = &rb
	}
	return &c
}
