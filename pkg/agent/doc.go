// Package agent is orchlet, the node agent: it registers the node with the
// control plane, follows the node's assignments and runs each assigned task
// on a container runtime (Docker, or the fake runtime for hollow nodes).
//
// # Session
//
// Run registers (retrying with exponential backoff and jitter while the
// control plane is unreachable; a wire.ErrUnauthorized makes Run return at
// once), heartbeats, and consumes the assignment stream: a snapshot of the
// node's complete set, then puts and deletes. A new assignment starts its
// task immediately. When the stream breaks it reconnects with backoff; when
// the control plane says wire.ErrUnknownNode the agent registers again.
// Containers keep running whatever happens to the session, and Run returns
// without stopping them: a restarted agent adopts them. StopAll is the only
// way the agent stops everything (orch dev uses it on Ctrl-C); while Run is
// active its tasks are reported STOPPED with stop code UserInitiated.
// Function environments are the exception: before Run returns (or StopAll
// does) the agent drains them, letting running invocations finish within
// FunctionsConfig.StopTimeout and posting their results, then stops them
// (functions.go). The node keeps heartbeating until that drain ends, so
// it is not declared lost while it still finishes invocations.
//
// # Startup sync
//
// Like the ECS agent's state synchronisation, the agent subscribes to the
// runtime's events first, then lists the containers labelled for its node.
// When the first snapshot arrives, each assigned task adopts its containers
// (matched by the orch.task and orch.container labels; no restart, no
// duplicates) and containers of tasks that are not assigned are stopped and
// removed. A task that is assigned but desired STOPPED has its containers
// stopped and kept for the retention like any stopped task. A container the
// control plane saw running but the runtime no longer has is reported
// stopped, never started a second time. If the runtime's event stream breaks (e.g. the Docker daemon
// restarted) the agent re-subscribes with backoff and every task
// re-inspects its containers.
//
// # Tasks
//
// One goroutine owns each task and steps its state machine; the desired
// status (from the control plane) and the known status (observed) are kept
// apart, and the known status only moves forward:
//
//	PENDING → ACTIVATING   pull images (pull policy), create containers with
//	                       Orch's labels, env, ports, limits, mounts, health
//	                       check, stop timeout and log rotation, then start
//	                       them as their dependsOn conditions allow (START,
//	                       COMPLETE, SUCCESS, HEALTHY)
//	ACTIVATING → RUNNING   every essential container has started
//	→ STOPPING → STOPPED   desired STOPPED (the server's stop code is kept),
//	                       an essential container exited
//	                       (EssentialContainerExited), or pulling, creating or
//	                       starting failed or a dependency can never be met
//	                       (TaskFailedToStart, with the runtime's error text)
//
// Containers stop in reverse dependency order, each with its stop timeout
// (then the runtime kills it). Stopped containers are kept for
// Config.StoppedRetention so their logs stay readable, then removed; a task
// deleted from the assignments has its containers stopped and removed at
// once.
//
// # Reports
//
// Every change (status, container states, exit codes, health, network
// bindings, timestamps, usage sampled every StatsInterval) is submitted to a
// reporter that keeps the latest report per task and sends everything
// pending in one ReportStatus call a few milliseconds after the first
// arrives; failed batches are retried with backoff without losing any task's
// latest state or history events.
//
// # HTTP
//
// The agent serves, on Config.ListenAddr:
//
//	GET /healthz
//	GET /logs/{taskId}?container=NAME&follow=1&since=RFC3339|DURATION&tail=N
//
// /logs streams plain text. In a TLS cluster the registration returns a
// certificate the cluster CA issued to the node for the agent's serving key,
// and from then on the port speaks only TLS 1.3 and admits only callers with
// a server's certificate of the cluster (logtls.go). In a plain-HTTP cluster
// it requires "Authorization: Bearer TOKEN", where TOKEN is the random
// callback token the agent sent at register.
//
// # Example
//
//	a, err := agent.New(agent.Config{
//		NodeName:     "node-1",
//		Runtime:      fake.New(fake.Config{}),
//		ControlPlane: client, // *client.Client from pkg/api/client
//		Logger:       slog.Default(),
//	})
//	if err != nil { ... }
//	err = a.Run(ctx) // until ctx ends; containers keep running
//
// Logs use log/slog with the keys node, task and container.
package agent
