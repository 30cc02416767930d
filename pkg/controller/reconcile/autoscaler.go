package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/orch-project/orch/pkg/autoscale"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// QueueSource is what the autoscaler needs from the queue broker, in model
// terms: the backlog of some queues, and a notification when a queue
// receives messages (so a service at zero wakes at once, not on a poll).
// The queues may be owned by another replica: pkg/server's implementation
// then reads the backlogs their owner publishes in etcd.
type QueueSource interface {
	// Backlog returns visible plus in-flight messages of each named queue
	// it knows; a queue missing from the result has no measurement.
	Backlog(ctx context.Context, queues []string) (map[string]int, error)
	// OnSend calls f with a queue's name after messages were sent to it
	// (or, for queues another replica owns, after its published backlog
	// changed).
	OnSend(f func(queue string)) (cancel func())
}

// autoscaleInterval is how often the autoscaler evaluates every target.
const autoscaleInterval = time.Second

// sendReeval bounds how often messages arriving on a queue re-evaluate a
// running service that follows it (a service at zero is woken at once).
const sendReeval = 100 * time.Millisecond

// usageFresh is how old a task's usage sample may be to count.
const usageFresh = 30 * time.Second

// autoscaler is the leader's loop that writes each scaled service's
// desired count from its metrics and policies (pkg/autoscale decides), and
// records every change as a scaling activity with its cause. It evaluates
// every target about once a second, and when a queue a policy follows
// receives messages: at once for a service at zero, at most every 100 ms
// for the others (so a backlog breach acts within about 100 ms).
type autoscaler struct {
	cfg    Config
	leader *store.Leader
	log    *slog.Logger
	now    func() time.Time

	services *store.Cache[model.Service]
	targets  *store.Cache[model.ScalableTarget]
	policies *store.Cache[model.ScalingPolicy]
	windows  map[string]*autoscale.Window
	lastEval map[string]time.Time
}

func newAutoscaler(cfg Config, l *store.Leader, log *slog.Logger) *autoscaler {
	return &autoscaler{cfg: cfg, leader: l, log: log.With("loop", "autoscaler"), now: time.Now, windows: map[string]*autoscale.Window{}, lastEval: map[string]time.Time{}}
}

func (a *autoscaler) run(ctx context.Context) {
	st := a.cfg.Store
	a.services, a.targets, a.policies = st.ServiceCache(), st.ScalableTargetCache(), st.ScalingPolicyCache()
	for _, c := range []interface{ Run(context.Context) error }{a.services, a.targets, a.policies} {
		go c.Run(ctx)
	}
	for _, ready := range []<-chan struct{}{a.services.Ready(), a.targets.Ready(), a.policies.Ready()} {
		select {
		case <-ctx.Done():
			return
		case <-ready:
		}
	}
	sent := make(chan string, 1024)
	if a.cfg.Queues != nil {
		// The callback runs on every send's goroutine: only a send to a
		// queue some policy follows wakes this loop (a wake per send to
		// other queues cost the server CPU on every message).
		cancel := a.cfg.Queues.OnSend(func(q string) {
			if !a.followed(q) {
				return
			}
			select {
			case sent <- q:
			default: // a full channel already holds a wake-up
			}
		})
		defer cancel()
	}
	tick := time.NewTicker(autoscaleInterval)
	defer tick.Stop()
	for {
		var wake map[string]bool // nil: every target
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case q := <-sent:
			wake = a.followersOf(q, sent)
			if len(wake) == 0 {
				continue
			}
		}
		for _, t := range a.targets.List() {
			name := t.Service()
			if wake != nil && !wake[name] {
				continue
			}
			if err := a.evaluate(ctx, t); err != nil {
				if errors.Is(err, store.ErrNotLeader) || ctx.Err() != nil {
					return
				}
				a.log.Warn("autoscaling pass failed", "service", name, "err", err)
			}
		}
	}
}

// followersOf returns the services with a policy that follows queue q (or
// any queue named in the other pending notifications) and are due an
// evaluation: at once when at zero tasks, else at most every sendReeval.
// followed reports whether a scaling policy follows queue q's backlog
// (safe for concurrent use: the policy cache is).
func (a *autoscaler) followed(q string) bool {
	if a.policies.Len() == 0 {
		return false
	}
	for _, p := range a.policies.List() {
		if cus := p.Metric().CustomizedMetricSpecification; cus != nil && cus.QueueName() == q {
			return true
		}
	}
	return false
}

func (a *autoscaler) followersOf(q string, more chan string) map[string]bool {
	queues := map[string]bool{q: true}
	for len(more) > 0 {
		queues[<-more] = true
	}
	out := map[string]bool{}
	for _, p := range a.policies.List() {
		cus := p.Metric().CustomizedMetricSpecification
		if cus == nil || !queues[cus.QueueName()] {
			continue
		}
		name := p.Service()
		if svc := a.services.Get(name); svc != nil && (svc.Desired() == 0 || a.now().Sub(a.lastEval[name]) >= sendReeval) {
			out[name] = true
		}
	}
	return out
}

func (a *autoscaler) policiesOf(service string) []*model.ScalingPolicy {
	var out []*model.ScalingPolicy
	for _, p := range a.policies.List() {
		if p.Service() == service {
			out = append(out, p)
		}
	}
	return out
}

// measure gathers a service's metrics: running tasks and their average
// utilisation from the agents' usage samples, and the backlog of the
// queues its policies follow.
func (a *autoscaler) measure(ctx context.Context, service string, ps []*model.ScalingPolicy, now time.Time) autoscale.Metrics {
	var m autoscale.Metrics
	var cpu, mem float64
	var nCPU, nMem int
	for _, t := range a.cfg.Caches.Tasks.List() {
		if model.ServiceOf(t) != service || t.LastStatus != model.StatusRunning || t.DesiredStatus != model.StatusRunning {
			continue
		}
		m.Running++
		u := t.Usage
		if u == nil || now.Sub(u.At) > usageFresh {
			continue
		}
		units := t.Requirements.CPU
		if units <= 0 {
			units = 1024 // no reservation: relative to one vCPU
		}
		cpu += u.CPUPercent * 1024 / float64(units)
		nCPU++
		if t.Requirements.MemoryMiB > 0 {
			mem += float64(u.MemoryBytes) * 100 / float64(int64(t.Requirements.MemoryMiB)<<20)
			nMem++
		}
	}
	if nCPU > 0 {
		v := cpu / float64(nCPU)
		m.CPU = &v
		a.cfg.Metrics.Scaling.Utilization.WithLabelValues(service, "cpu").Set(v)
	}
	if nMem > 0 {
		v := mem / float64(nMem)
		m.Memory = &v
		a.cfg.Metrics.Scaling.Utilization.WithLabelValues(service, "memory").Set(v)
	}
	var queues []string
	for _, p := range ps {
		if cus := p.Metric().CustomizedMetricSpecification; cus != nil {
			queues = append(queues, cus.QueueName())
		}
	}
	if len(queues) > 0 && a.cfg.Queues != nil {
		b, err := a.cfg.Queues.Backlog(ctx, queues)
		if err != nil {
			a.log.Debug("queue backlog unavailable", "service", service, "err", err)
		}
		m.Backlog = b
		for q, n := range b {
			a.cfg.Metrics.Scaling.Backlog.WithLabelValues(service, q).Set(float64(n))
		}
	}
	return m
}

// evaluate decides one target and writes the change, if any: the
// service's desired count first, then the activity on the target (both
// guarded by the election).
func (a *autoscaler) evaluate(ctx context.Context, t *model.ScalableTarget) error {
	name := t.Service()
	svc := a.services.Get(name)
	if svc == nil || svc.Status == model.ServiceDraining {
		return nil
	}
	ps := a.policiesOf(name)
	now := a.now()
	a.lastEval[name] = now
	w := a.windows[name]
	if w == nil {
		w = &autoscale.Window{}
		a.windows[name] = w
	}
	in := autoscale.Input{Now: now, Target: t, Policies: ps, Current: svc.Desired(), Metrics: a.measure(ctx, name, ps, now)}
	d := autoscale.Decide(in, w)
	sm := a.cfg.Metrics.Scaling
	sm.Desired.WithLabelValues(name).Set(float64(d.Desired))
	sm.Recommended.WithLabelValues(name).Set(float64(d.Recommended))
	if !d.Change {
		return nil
	}
	old := in.Current
	at := now.UTC()
	wrote := false
	fresh, err := a.cfg.Store.UpdateService(ctx, name, a.leader.Guard(), func(s *model.Service) (bool, error) {
		wrote = false
		if s.Status == model.ServiceDraining || s.Desired() != old {
			return false, nil // changed meanwhile (or our cache is behind): decide again next pass
		}
		wrote = true
		n := d.Desired
		s.DesiredCount, s.Steady = &n, false
		if p := s.Primary(); p != nil {
			p.DesiredCount, p.UpdatedAt = n, at
		}
		s.AddEvent(at, "(service %s) auto scaling set desired count from %d to %d: %s", name, old, n, d.Cause)
		return true, nil
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !wrote {
		return nil
	}
	// Decide again only once our caches have seen this write.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = a.services.WaitRevision(wctx, fresh.ModRevision)
	cancel()
	dir := "out"
	if d.Direction < 0 {
		dir = "in"
	}
	sm.Actions.WithLabelValues(name, dir).Inc()
	a.log.Info("auto scaling", "service", name, "from", old, "to", d.Desired, "cause", d.Cause)
	nt, err := a.cfg.Store.UpdateScalableTarget(ctx, name, a.leader.Guard(), func(cur *model.ScalableTarget) (*model.ScalableTarget, error) {
		if cur == nil {
			return nil, nil
		}
		if d.Direction > 0 {
			cur.LastScaleOut = &at
		} else {
			cur.LastScaleIn = &at
		}
		cur.AddActivity(model.ScalingActivity{
			ActivityId: model.NewActivityID(), ServiceNamespace: cur.ServiceNamespace, ResourceId: cur.ResourceId,
			ScalableDimension: cur.ScalableDimension, StartTime: at, EndTime: at, StatusCode: model.ActivitySuccessful,
			Description: fmt.Sprintf("Setting desired count to %d.", d.Desired),
			Cause:       d.Cause,
		})
		return cur, nil
	})
	if err != nil {
		return err
	}
	// Act on our own write in the next pass (cooldowns read LastScale*).
	if nt != nil {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = a.targets.WaitRevision(wctx, nt.ModRevision)
		cancel()
	}
	return nil
}
