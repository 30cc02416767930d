// Package reconcile holds Orch's leader-elected loops. Exactly one server
// replica runs them at a time: the one holding the etcd election
// "controller" (Reconciler.Run campaigns, runs the loops while it leads and
// stops them when the session is lost). Every write they make is guarded by
// that leadership (store.Leader.Guard), so a deposed leader cannot write.
//
//   - placement (placement.go): pending tasks become placements with the
//     pure pkg/scheduler, committed in batches;
//   - lifecycle (lifecycle.go): tasks of lost nodes are stopped and old
//     stopped tasks deleted;
//   - services (service_reconciler.go, service_plan.go): each ECS-style
//     service is driven towards its desired count and deployment.
//
// The request-serving half, which every replica runs, is pkg/controller.
//
// Example:
//
//	caches := controller.NewCaches(st)
//	go caches.Run(ctx)
//	r := reconcile.New(reconcile.Config{Store: st, Caches: caches, ID: "server-1"})
//	go r.Run(ctx) // campaigns, then reconciles while leader
package reconcile
