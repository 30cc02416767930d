package server

import (
	"context"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/controller/reconcile"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// A Feature is one part of the server: the endpoints and manifest kinds it
// serves (api.Feature) and its background loops. Start lists the features
// once, in order; adding a feature adds an entry there, not a field to
// Server or api.Config.
type Feature interface {
	api.Feature
	// Run runs the feature's background loops until ctx ends. A feature
	// without loops returns nil at once.
	Run(ctx context.Context) error
}

// coreFeature serves task definitions, tasks, nodes and the agent protocol;
// its loop is the controller: the leader-elected reconcilers (placement,
// lifecycle, and the services' reconciler, which shares their election).
type coreFeature struct {
	api.Feature
	reconciler *reconcile.Reconciler
}

func (f coreFeature) Run(ctx context.Context) error { return f.reconciler.Run(ctx) }

// servicesFeature serves ECS-style services. Its reconciler runs in the
// controller's election (see coreFeature), so it has no loop of its own.
type servicesFeature struct{ api.Feature }

func (servicesFeature) Run(context.Context) error { return nil }

// taskSource feeds the API's assignment streams from the task cache.
type taskSource struct{ cache *store.Cache[model.Task] }

func (s taskSource) SubscribeTasks(keep func(api.TaskChange) bool) api.TaskSubscription {
	return taskSubscription{s.cache.SubscribeFilter(func(ch store.Change[model.Task]) bool { return keep(taskChange(ch)) })}
}

type taskSubscription struct {
	*store.Subscription[model.Task]
}

func (s taskSubscription) Drain() []api.TaskChange {
	chs := s.Subscription.Drain()
	out := make([]api.TaskChange, len(chs))
	for i, ch := range chs {
		out[i] = taskChange(ch)
	}
	return out
}

func taskChange(ch store.Change[model.Task]) api.TaskChange {
	return api.TaskChange{TaskID: ch.Key, Prev: ch.Prev, Task: ch.Obj}
}
