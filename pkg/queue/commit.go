package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/internal/groupcommit"
	"github.com/orch-project/orch/pkg/queue/qlog"
	"github.com/orch-project/orch/pkg/store"
)

// committer groups the writes of many concurrent requests into few etcd
// transactions (internal/groupcommit): nobody is told "done" before their
// writes are in etcd, every commit carries the owner's guard, and a commit
// that finds ownership gone ends the ownership (lost).
type committer struct {
	*groupcommit.Committer[store.QueueOp]
	maxOps int
}

// With a shard log (the local store, localstore.go) the messages go to the
// log instead of etcd; the grouping is the same.
func newCommitter(st *store.Store, guard *store.Guard, lost func(), l *qlog.Log) *committer {
	write := func(ctx context.Context, ops []store.QueueOp) error { return st.CommitQueueOps(ctx, ops, guard) }
	if l != nil {
		write = logCommit(st, l, guard)
	}
	commit := func(ctx context.Context, ops []store.QueueOp) error {
		ops = dedupOps(ops)
		t0 := time.Now()
		var err error
		if h := commitHook.Load(); h != nil {
			err = (*h)(ops, func() error { return write(ctx, ops) })
		} else {
			err = write(ctx, ops)
		}
		commitNs.Add(int64(time.Since(t0)))
		commitN.Add(1)
		commitOps.Add(int64(len(ops)))
		if errors.Is(err, store.ErrNotLeader) {
			if lost != nil {
				lost()
			}
			return ErrServiceUnavailable.With("this server lost ownership of the queues; retry")
		} else if errors.Is(err, errLog) {
			// Give the shard up: taking it again reopens the log.
			if lost != nil {
				lost()
			}
			return ErrServiceUnavailable.With("storing the change failed (%v); retry", err)
		} else if err != nil {
			return ErrInternal.With("storing the change failed: %v", err)
		}
		return nil
	}
	c := groupcommit.New(groupcommit.Options[store.QueueOp]{
		Commit: commit, Size: store.QueueOpSize,
		MaxOps: max(1, min(st.MaxBatch(), 1000)), MaxBytes: st.MaxQueueTxnBytes(),
		Stopped: func(cause error) error {
			return ErrServiceUnavailable.With("the queue service is stopping on this server (%v); retry", cause)
		},
	})
	return &committer{Committer: c, maxOps: c.MaxOps()}
}

// commitHook, when a test sets it, runs every commit: it gets the
// operations and the function that writes them, so a test can hold a
// commit back or make one fail after it was written (an answer lost on
// the way back, which etcd's client can report as an error).
var commitHook atomic.Pointer[func(ops []store.QueueOp, write func() error) error]

// commitNs, commitN and commitOps count time, commits and operations of
// the shards' commits, process-wide; the package benchmark reports them.
var commitNs, commitN, commitOps atomic.Int64

// commit writes ops durably (with others' writes, in one transaction) and
// returns when they are in etcd, or with the error that kept them out.
func (c *committer) commit(ctx context.Context, ops ...store.QueueOp) error {
	return c.Commit(ctx, ops...)
}

func (c *committer) start(ctx context.Context, pipelines int) { c.Start(ctx, pipelines) }
func (c *committer) stop()                                    { c.Stop() }

type dedupKey struct {
	dedup bool
	q, id string
}

// dedupOps keeps only the last write of each key (two clients deleting the
// same message at once, a deduplication record expired and claimed again);
// etcd refuses a transaction naming a key twice.
func dedupOps(ops []store.QueueOp) []store.QueueOp {
	return groupcommit.LastWins(ops, func(op *store.QueueOp) dedupKey {
		return dedupKey{op.Kind == store.QueuePutDedup || op.Kind == store.QueueDeleteDedup, op.QueueID, op.ID}
	})
}
