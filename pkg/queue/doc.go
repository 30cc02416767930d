// Package queue is Orch's queue broker: SQS semantics (visibility timeouts,
// receipt handles, delays, retention, dead-letter queues and redrive, FIFO
// groups and deduplication, long polling) over messages stored in etcd.
//
// The queues are spread over the replicas in shards: the replica holding a
// shard's election keeps that shard's queues' receive state in memory; the
// others answer a NotOwnerError naming it, and the HTTP layer forwards the
// request there. Messages that cross shards (dead letters, redrives, topic
// deliveries) go durably through the destination shard's inbox in etcd.
// Writes of concurrent requests are grouped into few etcd transactions, and
// nobody is told "done" before their write is durable.
//
// Failures are *Error values with a neutral Kind (KindNoSuchQueue,
// KindInvalidReceiptHandle, ...); the package knows no HTTP status and no
// AWS error code: pkg/api/sqs maps kinds to both.
//
// All time comes from Options.Clock (the system clock by default), so tests
// move it by hand instead of sleeping. Every goroutine the broker starts
// (the sweeper, move tasks, clean-up writes) belongs to the owner state and
// has ended when Run returns; commits run on the goroutines of the
// requests waiting for them (internal/groupcommit).
//
// Files, one job each:
//
//	broker.go      Broker, Options, Run, finding a queue's owner
//	shards.go      shards: membership, rendezvous ranking, campaigns, hand-offs
//	owner.go       one owned shard's state: loading queues, stopping, background work
//	inbox.go       messages crossing shards: Deliver, inbox writes and absorption
//	commit.go      grouped durable commits
//	sweep.go       deleting messages past retention and expired dedup records
//	state.go       one queue's in-memory state: ready lists, FIFO groups, timers
//	queues.go      queue administration: create, attributes, tags, purge, stats
//	send.go        SendMessage(Batch); validate.go checks what is sent
//	receive.go     ReceiveMessage and long polling; handles.go receipt handles
//	ack.go         DeleteMessage(Batch), ChangeMessageVisibility(Batch)
//	deadletter.go  moving messages to a dead-letter queue
//	move.go        message move tasks (redrive)
//	errors.go      error kinds; clock.go the Clock
//
// Example:
//
//	b := queue.New(st, queue.Options{AdvertiseURL: "http://10.0.0.5:7070"})
//	go b.Run(ctx) // campaigns for queue shards until ctx ends
//	if _, err := b.CreateQueue(ctx, "orders", nil, nil); err != nil { ... }
//	_, err := b.SendMessage(ctx, "orders", queue.SendEntry{Body: "latte"})
//	ms, err := b.ReceiveMessage(ctx, "orders", queue.ReceiveInput{MaxNumberOfMessages: 10})
//	if queue.KindOf(err) == queue.KindNoSuchQueue { ... }
package queue
