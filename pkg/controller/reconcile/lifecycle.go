package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// lifecycle stops tasks whose node is gone and deletes stopped tasks after
// their retention, so etcd does not grow without bound.
type lifecycle struct {
	cfg    Config
	leader *store.Leader
	log    *slog.Logger
	// deadSince records when this leader first saw each node silent; a new
	// leader starts counting afresh, which only delays, never hastens.
	deadSince map[string]time.Time
	now       func() time.Time
}

func newLifecycle(cfg Config, l *store.Leader, log *slog.Logger) *lifecycle {
	return &lifecycle{cfg: cfg, leader: l, log: log.With("loop", "lifecycle"), deadSince: map[string]time.Time{}, now: time.Now}
}

func (lc *lifecycle) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := lc.pass(ctx); err != nil && ctx.Err() == nil {
			lc.log.Warn("lifecycle pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (lc *lifecycle) pass(ctx context.Context) error {
	c := lc.cfg.Caches
	now := lc.now().UTC()
	lost := map[string]string{} // node -> reason
	known := map[string]bool{}
	for _, n := range c.Nodes.List() {
		known[n.Name] = true
		if c.NodeAlive(n.Name) {
			delete(lc.deadSince, n.Name)
			continue
		}
		since, ok := lc.deadSince[n.Name]
		if !ok {
			lc.deadSince[n.Name] = now
			continue
		}
		if now.Sub(since) >= lc.cfg.NodeLostGrace {
			lost[n.Name] = fmt.Sprintf("node %s stopped heartbeating (silent since %s)", n.Name, since.Format(time.RFC3339))
		}
	}
	var writes, deletes []*model.Task
	for _, t := range c.Tasks.List() {
		switch {
		case t.IsStopped():
			if t.StoppedAt != nil && now.Sub(*t.StoppedAt) > lc.cfg.StoppedRetention {
				deletes = append(deletes, t)
			}
		case t.NodeName == "" && t.DesiredStatus == model.StatusStopped:
			w := controller.CloneTask(t)
			w.Stop(now, model.StopUserInitiated, "Task stopped before it was placed")
			writes = append(writes, w)
		case t.NodeName != "" && !known[t.NodeName]:
			w := controller.CloneTask(t)
			w.Stop(now, model.StopNodeLost, fmt.Sprintf("node %s was deleted", t.NodeName))
			writes = append(writes, w)
		case lost[t.NodeName] != "":
			// Service tasks are replaced by the service reconciler as soon
			// as this write lands; a standalone task is not restarted, so
			// its reason says it is lost. If the node comes back it stops
			// its copy: the record says STOPPED, and the service may
			// already run a replacement.
			why := lost[t.NodeName] + "; the service replaces the task on another node"
			if !strings.HasPrefix(t.Group, "service:") {
				why = lost[t.NodeName] + "; the task is lost (standalone tasks are not restarted elsewhere)"
			}
			w := controller.CloneTask(t)
			w.Stop(now, model.StopNodeLost, why)
			writes = append(writes, w)
		}
	}
	if len(writes) > 0 {
		if _, err := lc.cfg.Store.CommitTasks(ctx, writes, lc.leader.Guard()); err != nil {
			return err
		}
		lc.log.Info("stopped tasks of lost nodes", "count", len(writes))
	}
	if len(deletes) > 0 {
		if err := lc.cfg.Store.DeleteTasks(ctx, deletes); err != nil {
			return err
		}
	}
	return nil
}
