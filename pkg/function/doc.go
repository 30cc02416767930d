// Package function is the domain side of Orch's functions: their
// configuration and event source mappings in the store (Service), the one
// invocation entry point every trigger uses (Service.Invoke: RequestResponse,
// Event, DryRun), routing invocations to the agents attached to this server
// (Hub: sticky to warm agents, spreading by free memory), reserved
// concurrency counted once for the cluster by the replica owning the
// function's shard (slots.go; other replicas take slots there through
// RemoteSlots), durable Event invocations with Lambda's two retries and a
// dead-letter queue, the SQS event Lambda's queue source sends (SQSEvent),
// the reading of a batch's result (BatchOutcome) and the queue poller
// (QueueSource). No HTTP and no AWS error codes here (pkg/api/lambda maps
// the errors); the Runtime API and the environments are in
// pkg/agent/lambdart.
//
// Example:
//
//	svc := function.New(function.Config{Store: st, Queues: broker})
//	go svc.Run(ctx)
//	res, err := svc.Invoke(ctx, "receipt", []byte(`{"id":"o-1"}`), function.RequestResponse, false)
package function
