package controller

import (
	"context"
	"sync"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Caches are the in-memory mirrors of tasks and nodes one server process
// shares between its API (assignment streams, task lookups) and its
// controller.
type Caches struct {
	Tasks *store.Cache[model.Task]
	Nodes *store.Cache[model.Node]
	Alive *store.Cache[string]
}

// NewCaches creates the caches; call Run to fill and follow them.
func NewCaches(st *store.Store) *Caches {
	return &Caches{Tasks: st.TaskCache(), Nodes: st.NodeCache(), Alive: st.AliveCache()}
}

// Run follows etcd until ctx ends.
func (c *Caches) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.Tasks.Run(ctx) })
	wg.Go(func() { c.Nodes.Run(ctx) })
	wg.Go(func() { c.Alive.Run(ctx) })
	wg.Wait()
	return ctx.Err()
}

// WaitReady blocks until every cache has its first full list.
func (c *Caches) WaitReady(ctx context.Context) error {
	for _, ch := range []<-chan struct{}{c.Tasks.Ready(), c.Nodes.Ready(), c.Alive.Ready()} {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// NodeAlive reports whether a node's liveness key exists.
func (c *Caches) NodeAlive(name string) bool { return c.Alive.Get(name) != nil }
