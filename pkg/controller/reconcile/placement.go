package reconcile

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/scheduler"
	"github.com/orch-project/orch/pkg/store"
)

// placementLoop turns pending tasks into placements: it snapshots the caches,
// asks the pure scheduler, and commits the result in batches, each write
// conditional on the task's revision and on this process still leading.
type placementLoop struct {
	cfg    Config
	leader *store.Leader
	log    *slog.Logger
	seed   int64
}

func newPlacementLoop(cfg Config, l *store.Leader, log *slog.Logger) *placementLoop {
	return &placementLoop{cfg: cfg, leader: l, log: log.With("loop", "placement"), seed: time.Now().UnixNano()}
}

// retryEvery bounds how long an unplaced task waits for a retry when
// nothing in the cluster changes (a safety net; changes trigger passes).
const retryEvery = 5 * time.Second

func (p *placementLoop) run(ctx context.Context) {
	c := p.cfg.Caches
	tsub, nsub, asub := c.Tasks.Subscribe(), c.Nodes.Subscribe(), c.Alive.Subscribe()
	defer tsub.Close()
	defer nsub.Close()
	defer asub.Close()
	pending := map[string]bool{}
	retry := time.NewTimer(retryEvery)
	defer retry.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tsub.C():
			for _, ch := range tsub.Drain() {
				if ch.Obj != nil && ch.Obj.NeedsPlacement() {
					if !pending[ch.Key] {
						pending[ch.Key], dirty = true, true
					}
					continue
				}
				delete(pending, ch.Key)
				// A task that released resources may make room.
				if ch.Prev != nil && ch.Prev.Holds() && (ch.Obj == nil || !ch.Obj.Holds()) {
					dirty = true
				}
			}
		case <-nsub.C():
			nsub.Drain()
			dirty = true
		case <-asub.C():
			asub.Drain()
			dirty = true
		case <-retry.C:
			dirty = true
			retry.Reset(retryEvery)
		}
		if !dirty || len(pending) == 0 {
			continue
		}
		dirty = false
		if err := p.pass(ctx, pending); err != nil && ctx.Err() == nil {
			p.log.Warn("scheduling pass failed", "err", err)
			if err == store.ErrNotLeader {
				return
			}
		}
	}
}

// snapshot builds the scheduler's view of the cluster from the caches.
func (p *placementLoop) snapshot() scheduler.Snapshot {
	c := p.cfg.Caches
	nodes := c.Nodes.List()
	idx := make(map[string]int, len(nodes))
	snap := scheduler.Snapshot{Nodes: make([]scheduler.NodeInfo, len(nodes))}
	for i, n := range nodes {
		idx[n.Name] = i
		snap.Nodes[i] = scheduler.NodeInfo{
			Name: n.Name, Status: n.Status, Alive: c.NodeAlive(n.Name), Capacity: n.Capacity,
			Attributes: n.Attributes, ReservedPorts: n.ReservedPorts,
		}
	}
	for _, t := range c.Tasks.List() {
		if !t.Holds() {
			continue
		}
		if i, ok := idx[t.NodeName]; ok {
			snap.Nodes[i].Tasks = append(snap.Nodes[i].Tasks, scheduler.PlacedTask{
				TaskID: t.TaskID, Group: t.Group, Family: t.Family, Requirements: t.Requirements, StaticPorts: t.StaticPorts,
			})
		}
	}
	return snap
}

func (p *placementLoop) pass(ctx context.Context, pending map[string]bool) error {
	start := time.Now()
	c := p.cfg.Caches
	var tasks []*model.Task
	for id := range pending {
		t := c.Tasks.Get(id)
		if t == nil || !t.NeedsPlacement() {
			delete(pending, id)
			continue
		}
		tasks = append(tasks, t)
	}
	// Oldest first, so a burst of new tasks does not starve earlier ones.
	sort.Slice(tasks, func(i, j int) bool {
		if !tasks[i].CreatedAt.Equal(tasks[j].CreatedAt) {
			return tasks[i].CreatedAt.Before(tasks[j].CreatedAt)
		}
		return tasks[i].TaskID < tasks[j].TaskID
	})
	reqs := make([]scheduler.Request, len(tasks))
	byID := make(map[string]*model.Task, len(tasks))
	for i, t := range tasks {
		byID[t.TaskID] = t
		reqs[i] = scheduler.Request{
			TaskID: t.TaskID, Group: t.Group, Family: t.Family, Requirements: t.Requirements,
			StaticPorts: t.StaticPorts, Strategy: t.PlacementStrategy, Constraints: t.PlacementConstraints,
		}
	}
	p.seed++
	res := scheduler.Schedule(p.snapshot(), reqs, p.seed)

	now := time.Now().UTC()
	writes := make([]*model.Task, 0, len(res.Placements)+len(res.Unplaced))
	for _, pl := range res.Placements {
		t := controller.CloneTask(byID[pl.TaskID])
		t.NodeName, t.PlacedAt, t.PlacementMessage = pl.Node, &now, ""
		t.AddEvent(now, "placed on node %s", pl.Node)
		writes = append(writes, t)
	}
	placed := len(writes)
	for _, u := range res.Unplaced {
		t := byID[u.TaskID]
		if t.PlacementMessage == u.Message {
			continue // nothing new to say; don't churn etcd
		}
		t = controller.CloneTask(t)
		t.PlacementMessage = u.Message
		t.AddEvent(now, "%s", u.Message)
		writes = append(writes, t)
	}
	conflicts, err := p.cfg.Store.CommitTasks(ctx, writes, p.leader.Guard())
	if err != nil {
		return err
	}
	var maxRev int64
	for _, t := range writes {
		maxRev = max(maxRev, t.ModRevision)
	}
	for _, pl := range res.Placements {
		delete(pending, pl.TaskID)
	}
	for _, id := range conflicts {
		pending[id] = true // re-read from the cache on the next pass
	}
	// The next snapshot must include these placements, or it would count
	// their nodes' resources as still free.
	if maxRev > 0 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = c.Tasks.WaitRevision(wctx, maxRev)
		cancel()
		if err != nil {
			return err
		}
	}
	m := p.cfg.Metrics
	m.Placements.Add(float64(placed - min(placed, len(conflicts))))
	m.PlacementErrors.Add(float64(len(conflicts)))
	m.Pending.Set(float64(len(res.Unplaced)))
	m.Passes.Observe(time.Since(start).Seconds())
	if placed > 0 || len(res.Unplaced) > 0 {
		p.log.Debug("scheduling pass", "placed", placed, "unplaced", len(res.Unplaced), "conflicts", len(conflicts), "took", time.Since(start))
	}
	return nil
}
