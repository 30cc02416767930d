package topic

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/orch-project/orch/internal/groupcommit"
	"github.com/orch-project/orch/pkg/store"
)

// committer groups the writes of many concurrent publishes and finished
// deliveries into few etcd transactions (internal/groupcommit): nobody is
// told "done" before their writes are in etcd, every commit carries the
// owner's guard, and a commit that finds ownership gone ends it (lost).
type committer struct {
	*groupcommit.Committer[store.TopicOp]
}

func newCommitter(st *store.Store, guard *store.Guard, lost func()) *committer {
	commit := func(ctx context.Context, ops []store.TopicOp) error {
		ops = dedupOps(ops)
		do := func() error { return st.CommitTopicOps(ctx, ops, guard) }
		var err error
		if h := commitHook.Load(); h != nil {
			err = (*h)(ops, do)
		} else {
			err = do()
		}
		if errors.Is(err, store.ErrNotLeader) {
			if lost != nil {
				lost()
			}
			return ErrUnavailable.With("this server lost ownership of the topics; retry")
		} else if err != nil {
			return ErrInternal.With("storing the change failed: %v", err)
		}
		return nil
	}
	return &committer{groupcommit.New(groupcommit.Options[store.TopicOp]{
		Commit: commit, Size: func(op *store.TopicOp) int { return 128 + len(op.Encoded) },
		MaxOps: max(1, min(st.MaxBatch(), 1000)), MaxBytes: st.MaxQueueTxnBytes(),
		Stopped: func(cause error) error {
			return ErrUnavailable.With("the topic service is stopping on this server (%v); retry", cause)
		},
	})}
}

// commitHook, when a test sets it, runs every transaction: it gets the
// operations and the function that commits them, so a test can hold one
// transaction back and let a later one overtake it, as the pipelines
// (Options.CommitPipelines) may.
var commitHook atomic.Pointer[func(ops []store.TopicOp, commit func() error) error]

// commit writes ops durably (with others' writes, in one transaction) and
// returns when they are in etcd, or with the error that kept them out.
func (c *committer) commit(ctx context.Context, ops ...store.TopicOp) error {
	return c.Commit(ctx, ops...)
}

func (c *committer) start(ctx context.Context, pipelines int) { c.Start(ctx, pipelines) }
func (c *committer) stop()                                    { c.Stop() }

type opKey struct{ t, id string }

// dedupOps keeps only the last write of each message (a delete racing a
// rewrite of the same record); etcd refuses a transaction naming a key twice.
func dedupOps(ops []store.TopicOp) []store.TopicOp {
	return groupcommit.LastWins(ops, func(op *store.TopicOp) opKey { return opKey{op.TopicID, op.MessageID} })
}
