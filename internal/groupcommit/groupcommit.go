// Package groupcommit groups the writes of many concurrent callers into few
// transactions (group commit): a caller waits while a commit is under way,
// and the next commit carries everything that queued up meanwhile, up to a
// number of operations and bytes. Nobody is told "done" before their writes
// are committed.
//
// There is no commit goroutine: a caller waiting for its write runs the
// next commit itself when none is under way (it leads), and the others
// wait for it (they follow). When a commit ends and writes are still
// queued, the leader hands the lead to one of their waiting callers (a
// wake-up that caller needed anyway, for its own answer) and returns. So
// a commit costs no goroutine hand-off of its own: a write to an idle
// committer is committed on its caller's goroutine without waking anyone.
//
// It knows nothing of etcd: the queues (pkg/queue) and the topics
// (pkg/topic) each give it their own operation type and a function that
// commits one transaction of them.
//
//	c := groupcommit.New(groupcommit.Options[Op]{Commit: commitTxn, Size: opSize, MaxOps: 1000, MaxBytes: 8 << 20,
//		Stopped: func(cause error) error { return fmt.Errorf("stopping: %w", cause) }})
//	c.Start(ctx, 8)
//	err := c.Commit(ctx, op1, op2) // durable when nil
//	...
//	cancel(); c.Stop()
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// Options configure a Committer of operations of type Op.
type Options[Op any] struct {
	// Commit writes ops in one transaction; its error is every waiting
	// caller's. It runs on a waiting caller's goroutine, with the
	// context given to Start (never cancelled: a commit begun finishes).
	Commit func(ctx context.Context, ops []Op) error
	// Size is an operation's weight against MaxBytes.
	Size func(op *Op) int
	// MaxOps and MaxBytes bound one transaction (at least one request
	// always goes, whatever its size).
	MaxOps, MaxBytes int
	// Stopped is the error for writes that reach the committer after it
	// stopped, or were still queued when it stopped (cause says why).
	Stopped func(cause error) error
}

// Committer is a group committer. Start lets commits begin, Stop waits for
// the commits under way and fails whatever is still queued.
type Committer[Op any] struct {
	o Options[Op]

	mu        sync.Mutex
	ctx       context.Context // from Start; nil before it
	pipelines int             // how many commits may be under way at once
	active    int             // commits under way
	idle      *sync.Cond      // signalled when active drops to 0 (Stop waits on it)
	stopped   bool
	queued    []*request[Op] // submitted, not yet in a commit, in order
	pool      []*request[Op]
}

type request[Op any] struct {
	ops     []Op
	size    int
	done    bool
	err     error
	waiting bool          // its caller is parked in wait
	wake    chan struct{} // buffered 1: its outcome is in, or it may lead
}

// New returns a Committer; call Start to let commits begin.
func New[Op any](o Options[Op]) *Committer[Op] {
	o.MaxOps = max(1, o.MaxOps)
	c := &Committer[Op]{o: o}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// MaxOps is the most operations one transaction carries.
func (c *Committer[Op]) MaxOps() int { return c.o.MaxOps }

// Commit writes ops durably (with others' writes) and returns when they are
// committed, or with the error that kept them out. ops stay in one
// transaction.
func (c *Committer[Op]) Commit(ctx context.Context, ops ...Op) error {
	return c.Submit(ctx, ops...)()
}

// Submit queues ops for a coming transaction and returns at once; wait
// returns when they are committed, with the error that kept them out (it
// must be called exactly once: a queued write is committed at the latest
// when its own caller waits). With one pipeline (Start(ctx, 1)), writes
// are committed in the order they were submitted: a write submitted after
// Submit returned lands in the same transaction, after ops, or in a later
// one. The queues rely on that to make a message receivable before its
// commit ends: its consumer's delete cannot overtake it.
func (c *Committer[Op]) Submit(_ context.Context, ops ...Op) (wait func() error) {
	if len(ops) == 0 {
		return func() error { return nil }
	}
	size := 0
	for i := range ops {
		size += c.o.Size(&ops[i])
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		err := c.o.Stopped(context.Canceled)
		return func() error { return err }
	}
	var r *request[Op]
	if n := len(c.pool); n > 0 {
		r, c.pool = c.pool[n-1], c.pool[:n-1]
	} else {
		r = &request[Op]{wake: make(chan struct{}, 1)}
	}
	r.ops, r.size = ops, size
	c.queued = append(c.queued, r)
	c.mu.Unlock()
	return func() error { return c.wait(r) }
}

// wait returns r's outcome: it leads commits while r is queued and no
// other commit may begin, and otherwise sleeps until woken (r committed,
// or the lead handed to it). Once queued, the write goes ahead whatever
// the caller's ctx says; waiting for it means the caller never reports
// failure for a write that got committed.
func (c *Committer[Op]) wait(r *request[Op]) error {
	c.mu.Lock()
	for !r.done {
		if c.ctx != nil && !c.stopped && c.active < c.pipelines && len(c.queued) > 0 {
			c.lead()
			continue
		}
		r.waiting = true
		c.mu.Unlock()
		<-r.wake
		c.mu.Lock()
	}
	err := r.err
	r.ops, r.err, r.done = nil, nil, false
	if len(c.pool) < 256 {
		c.pool = append(c.pool, r)
	}
	c.mu.Unlock()
	return err
}

// lead runs one commit of the oldest queued requests (c.mu held on entry
// and on return, not during the commit), answers them, and hands the lead
// on if requests are left.
func (c *Committer[Op]) lead() {
	if err := c.ctx.Err(); err != nil {
		// The owner is going (lost ownership, shutting down): nothing
		// queued will be committed; Stop fails what comes later.
		c.finish(c.queued, c.o.Stopped(err))
		c.queued = c.queued[:0]
		return
	}
	n, size, k := 0, 0, 0
	for _, r := range c.queued {
		if k > 0 && (n+len(r.ops) > c.o.MaxOps || size+r.size > c.o.MaxBytes) {
			break
		}
		n += len(r.ops)
		size += r.size
		k++
	}
	batch := make([]*request[Op], k)
	copy(batch, c.queued)
	rest := copy(c.queued, c.queued[k:])
	clear(c.queued[rest:])
	c.queued = c.queued[:rest]
	ops := make([]Op, 0, n)
	for _, r := range batch {
		ops = append(ops, r.ops...)
	}
	c.active++
	ctx := context.WithoutCancel(c.ctx)
	c.mu.Unlock()
	ended := false
	defer func() {
		if !ended {
			// Commit panicked on this caller's goroutine (net/http may
			// recover it): its batch must not wait forever, nor the next.
			c.mu.Lock()
			c.ended(batch, errCommitPanicked)
			c.mu.Unlock()
		}
	}()
	err := c.o.Commit(ctx, ops)
	ended = true
	c.mu.Lock()
	c.ended(batch, err)
}

var errCommitPanicked = errors.New("groupcommit: the commit panicked; its writes may or may not be stored")

// ended answers a commit's batch with err and lets the next commit begin.
func (c *Committer[Op]) ended(batch []*request[Op], err error) {
	c.active--
	c.finish(batch, err)
	if c.active == 0 {
		c.idle.Broadcast()
	}
	c.handOn()
}

// finish records err as the outcome of batch and wakes their waiting
// callers.
func (c *Committer[Op]) finish(batch []*request[Op], err error) {
	for _, r := range batch {
		r.done, r.err = true, err
		if r.waiting {
			r.waiting = false
			r.wake <- struct{}{}
		}
	}
}

// handOn wakes one waiting caller of a queued request to lead the next
// commit, if one may begin. A queued request whose caller is not waiting
// yet is committed when some caller waits (its own at the latest).
func (c *Committer[Op]) handOn() {
	if c.ctx == nil || c.active >= c.pipelines {
		return
	}
	for _, r := range c.queued {
		if r.waiting {
			r.waiting = false
			r.wake <- struct{}{}
			return
		}
	}
}

// Start lets commits begin; until ctx ends, up to pipelines of them run
// side by side so one waiting on the store does not stall the next batch.
func (c *Committer[Op]) Start(ctx context.Context, pipelines int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctx, c.pipelines = ctx, max(1, pipelines)
	c.handOn()
}

// Stop waits for the commits under way (ctx must have ended) and fails
// every write still queued, and every later one.
func (c *Committer[Op]) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for c.active > 0 {
		c.idle.Wait()
	}
	c.finish(c.queued, c.o.Stopped(context.Canceled))
	c.queued = nil
}

// LastWins keeps only the last operation of each key, in order (a delete
// racing a rewrite of the same record); etcd refuses a transaction naming a
// key twice. ops is returned as is when no key repeats.
func LastWins[Op any, K comparable](ops []Op, key func(*Op) K) []Op {
	if len(ops) < 2 {
		return ops
	}
	seen := make(map[K]bool, len(ops))
	keep := make([]bool, len(ops))
	dup := false
	for i := len(ops) - 1; i >= 0; i-- {
		k := key(&ops[i])
		if seen[k] {
			dup = true
			continue
		}
		seen[k] = true
		keep[i] = true
	}
	if !dup {
		return ops
	}
	out := make([]Op, 0, len(ops))
	for i := range ops {
		if keep[i] {
			out = append(out, ops[i])
		}
	}
	return out
}
