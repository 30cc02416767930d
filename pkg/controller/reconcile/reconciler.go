package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/store"
)

// DefaultNodeLostGrace is Config.NodeLostGrace's default.
const DefaultNodeLostGrace = 2 * time.Second

// Config configures the leader-elected reconcilers.
type Config struct {
	Store  *store.Store
	Caches *controller.Caches
	// ID names this process in the election (e.g. hostname:port).
	ID     string
	Logger *slog.Logger
	// NodeLostGrace is how long a node may stay without its liveness key
	// (its lease expired) before its tasks are stopped with stopCode
	// NodeLost. Default 2 s: the lease ttl already forgives missed
	// heartbeats, and a service task must be replaced within 15 s.
	NodeLostGrace time.Duration
	// StoppedRetention is how long stopped tasks stay readable before they
	// are deleted. Default 1 h.
	StoppedRetention time.Duration
	// SessionTTL is the election session ttl in seconds. Default 4: a
	// dead leader's controllers are replaced about that long after it
	// dies (10 s before; measured in docs/benchmarks.md). The session is
	// kept alive every ttl/3, so a pause must exceed ~4 s to cost the lead,
	// and a lost lead only hands the loops over: writes are guarded.
	SessionTTL int
	// Metrics receives counters; nil means none.
	Metrics *Metrics
	// Queues gives the autoscaler queue backlogs and send notifications;
	// nil: policies on queues have no metrics.
	Queues QueueSource
}

// Reconciler campaigns for the controller election and, while this process
// holds it, runs the loops: placement, lifecycle and services.
type Reconciler struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	leader bool
}

// New returns a Reconciler; Run starts it.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeLostGrace == 0 {
		cfg.NodeLostGrace = DefaultNodeLostGrace
	}
	if cfg.StoppedRetention == 0 {
		cfg.StoppedRetention = time.Hour
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 4
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger.With("component", "controller")}
}

// IsLeader reports whether this process currently leads.
func (c *Reconciler) IsLeader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

func (c *Reconciler) setLeader(v bool) {
	c.mu.Lock()
	c.leader = v
	c.mu.Unlock()
	c.cfg.Metrics.setLeader(v)
}

// Run campaigns for leadership and, while leading, runs the reconcilers;
// when leadership is lost it stops them and campaigns again. It returns
// when ctx ends.
func (c *Reconciler) Run(ctx context.Context) error {
	if err := c.cfg.Caches.WaitReady(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		l, err := c.cfg.Store.Campaign(ctx, "controller", c.cfg.ID, c.cfg.SessionTTL)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("campaign failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		c.log.Info("leading the controller election", "serverId", c.cfg.ID)
		c.setLeader(true)
		lctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		p := newPlacementLoop(c.cfg, l, c.log)
		lc := newLifecycle(c.cfg, l, c.log)
		wg.Go(func() { p.run(lctx) })
		wg.Go(func() { lc.run(lctx) })
		wg.Go(func() { newServiceReconciler(c.cfg, l, c.log).run(lctx) })
		wg.Go(func() { newAutoscaler(c.cfg, l, c.log).run(lctx) })
		select {
		case <-ctx.Done():
		case <-l.Done():
			c.log.Warn("lost the controller election; reconcilers stopped")
		}
		cancel()
		wg.Wait()
		c.setLeader(false)
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.Resign(rctx)
		rcancel()
	}
	return ctx.Err()
}
