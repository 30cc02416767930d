package topic

import (
	"context"
	"errors"
	"sync"

	"github.com/orch-project/orch/pkg/store"
)

// committer groups the writes of many concurrent publishes and finished deliveries into few etcd
// transactions: a request waits while a commit is under way, and the next
// commit carries everything that queued up meanwhile (up to maxOps and
// maxBytes). Nobody is told "done" before their writes are in etcd.
//
// The committer owns its loops: start runs them, stop waits for them and
// fails whatever is still queued.
type committer struct {
	st       *store.Store
	guard    *store.Guard
	reqs     chan *commitReq
	maxOps   int
	maxBytes int
	// lost is called when a guarded commit finds leadership gone.
	lost func()

	wg      sync.WaitGroup
	stopped chan struct{} // closed once every loop has ended
}

type commitReq struct {
	ops  []store.TopicOp
	size int
	done chan error
}

func newCommitter(st *store.Store, guard *store.Guard, lost func()) *committer {
	return &committer{
		st: st, guard: guard, lost: lost,
		reqs:     make(chan *commitReq, 4096),
		stopped:  make(chan struct{}),
		maxOps:   max(1, min(st.MaxBatch(), 1000)),
		maxBytes: st.MaxQueueTxnBytes(),
	}
}

var reqPool = make(chan *commitReq, 256)

// commit writes ops durably (with others' writes) and returns when they are
// in etcd, or with the error that kept them out.
func (c *committer) commit(ctx context.Context, ops ...store.TopicOp) error {
	if len(ops) == 0 {
		return nil
	}
	var r *commitReq
	select {
	case r = <-reqPool:
	default:
		r = &commitReq{done: make(chan error, 1)}
	}
	r.ops = ops
	r.size = 0
	for i := range ops {
		r.size += 128 + len(ops[i].Encoded)
	}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
		return errStopping
	}
	// Once queued, the write goes ahead whatever ctx says; wait for it so
	// the caller never reports failure for a message that got stored.
	var err error
	select {
	case err = <-r.done:
	case <-c.stopped:
		// Queued after the final drain: nobody will commit it. r is
		// not reused, since a late drain may still answer it.
		select {
		case err = <-r.done:
		default:
			return errStopping
		}
	}
	r.ops = nil
	select {
	case reqPool <- r:
	default:
	}
	return err
}

// errStopping answers writes that reach a committer after it stopped.
var errStopping = ErrUnavailable.With("the topic service is stopping on this server; retry")

// start runs the commit loops until ctx ends; pipelines commits run side by
// side so one waiting on etcd does not stall the next batch.
func (c *committer) start(ctx context.Context, pipelines int) {
	for range pipelines {
		c.wg.Go(func() { c.loop(ctx) })
	}
}

// stop waits for the loops (their ctx must have ended) and fails every
// write still queued.
func (c *committer) stop() {
	c.wg.Wait()
	close(c.stopped)
	c.drainFail(context.Canceled)
}

func (c *committer) loop(ctx context.Context) {
	var batch []*commitReq
	var ops []store.TopicOp
	var carry *commitReq
	for {
		batch, ops = batch[:0], ops[:0]
		var first *commitReq
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-c.reqs:
			case <-ctx.Done():
				c.drainFail(ctx.Err())
				return
			}
		}
		batch = append(batch, first)
		n, size := len(first.ops), first.size
	collect:
		for n < c.maxOps && size < c.maxBytes {
			select {
			case r := <-c.reqs:
				if n+len(r.ops) > c.maxOps || size+r.size > c.maxBytes {
					carry = r
					break collect
				}
				batch = append(batch, r)
				n += len(r.ops)
				size += r.size
			default:
				break collect
			}
		}
		for _, r := range batch {
			ops = append(ops, r.ops...)
		}
		ops = dedupOps(ops)
		err := c.st.CommitTopicOps(context.WithoutCancel(ctx), ops, c.guard)
		if errors.Is(err, store.ErrNotLeader) {
			err = ErrUnavailable.With("this server lost ownership of the topics; retry")
			if c.lost != nil {
				c.lost()
			}
		} else if err != nil {
			err = ErrInternal.With("storing the change failed: %v", err)
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (c *committer) drainFail(err error) {
	for {
		select {
		case r := <-c.reqs:
			r.done <- ErrUnavailable.With("the topic service is stopping: %v", err)
		default:
			return
		}
	}
}

// dedupOps keeps only the last write of each message (a delete racing a
// rewrite of the same record); etcd refuses a transaction naming a key twice.
func dedupOps(ops []store.TopicOp) []store.TopicOp {
	if len(ops) < 2 {
		return ops
	}
	type k struct{ t, id string }
	seen := make(map[k]bool, len(ops))
	keep := make([]bool, len(ops))
	dup := false
	for i := len(ops) - 1; i >= 0; i-- {
		kk := k{ops[i].TopicID, ops[i].MessageID}
		if seen[kk] {
			dup = true
			continue
		}
		seen[kk] = true
		keep[i] = true
	}
	if !dup {
		return ops
	}
	out := make([]store.TopicOp, 0, len(ops))
	for i, op := range ops {
		if keep[i] {
			out = append(out, op)
		}
	}
	return out
}
