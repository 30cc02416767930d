// Package controller holds Orch's control logic over the store.
//
// Two kinds of code live here:
//
//   - Services (TaskDefs, Tasks, Nodes) answer API calls on any server
//     replica: register a task definition, run or stop tasks, merge what
//     agents report. Every read-modify-write is conditional on the mod
//     revision read.
//   - Reconcilers run only in the replica holding the etcd election
//     (Controller.Run): the placer turns pending tasks into placements with
//     pkg/scheduler and commits them in batches guarded by leadership; the
//     lifecycle loop stops tasks of lost nodes and deletes old stopped tasks.
//
// Example:
//
//	caches := controller.NewCaches(st)
//	go caches.Run(ctx)
//	ctl := controller.New(controller.Config{Store: st, Caches: caches, ID: "server-1"})
//	go ctl.Run(ctx) // campaigns, then reconciles while leader
//	tasks, _ := controller.NewTasks(st, caches).Run(ctx, controller.RunInput{TaskDefinition: "web", Count: 3})
package controller
