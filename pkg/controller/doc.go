// Package controller is Orch's request-serving control logic over the
// store, which every server replica runs: register and deregister task
// definitions (TaskDefs), run, stop and list tasks and merge what agents
// report (Tasks), register nodes and keep their liveness (Nodes), and apply,
// scale and roll back ECS-style services (Services). Every read-modify-write
// is conditional on the mod revision read. Caches mirrors tasks and nodes
// in memory for all of them and for the assignment streams.
//
// The leader-elected loops (placement, lifecycle, service reconciliation)
// live in the subpackage reconcile.
//
// Example:
//
//	caches := controller.NewCaches(st)
//	go caches.Run(ctx)
//	tasks, _ := controller.NewTasks(st, caches).Run(ctx, model.RunTaskInput{TaskDefinition: "web", Count: 3})
package controller
