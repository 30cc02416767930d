// Package groupcommit groups the writes of many concurrent callers into few
// transactions (group commit): a caller waits while a commit is under way,
// and the next commit carries everything that queued up meanwhile, up to a
// number of operations and bytes. Nobody is told "done" before their writes
// are committed.
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
	"sync"
)

// Options configure a Committer of operations of type Op.
type Options[Op any] struct {
	// Commit writes ops in one transaction; its error is every waiting
	// caller's.
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

// Committer is a group committer. It owns its loops: Start runs them, Stop
// waits for them and fails whatever is still queued.
type Committer[Op any] struct {
	o       Options[Op]
	reqs    chan *request[Op]
	pool    chan *request[Op]
	wg      sync.WaitGroup
	stopped chan struct{} // closed once every loop has ended
}

type request[Op any] struct {
	ops  []Op
	size int
	done chan error
}

// New returns a Committer; call Start to run it.
func New[Op any](o Options[Op]) *Committer[Op] {
	o.MaxOps = max(1, o.MaxOps)
	return &Committer[Op]{o: o, reqs: make(chan *request[Op], 4096), pool: make(chan *request[Op], 256), stopped: make(chan struct{})}
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
// must be called at most once). With one pipeline (Start(ctx, 1)), writes
// are committed in the order they were submitted: a write submitted after
// Submit returned lands in the same transaction, after ops, or in a later
// one. The queues rely on that to make a message receivable before its
// commit ends: its consumer's delete cannot overtake it.
func (c *Committer[Op]) Submit(ctx context.Context, ops ...Op) (wait func() error) {
	if len(ops) == 0 {
		return func() error { return nil }
	}
	var r *request[Op]
	select {
	case r = <-c.pool:
	default:
		r = &request[Op]{done: make(chan error, 1)}
	}
	r.ops = ops
	r.size = 0
	for i := range ops {
		r.size += c.o.Size(&ops[i])
	}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		err := ctx.Err()
		return func() error { return err }
	case <-c.stopped:
		err := c.o.Stopped(context.Canceled)
		return func() error { return err }
	}
	return func() error { return c.wait(r) }
}

// wait waits for a queued request's outcome. Once queued, the write goes
// ahead whatever the caller's ctx says; waiting for it means the caller
// never reports failure for a write that got committed.
func (c *Committer[Op]) wait(r *request[Op]) error {
	var err error
	select {
	case err = <-r.done:
	case <-c.stopped:
		// Queued after the final drain: nobody will commit it. r is
		// not reused, since a late drain may still answer it.
		select {
		case err = <-r.done:
		default:
			return c.o.Stopped(context.Canceled)
		}
	}
	r.ops = nil
	select {
	case c.pool <- r:
	default:
	}
	return err
}

// Start runs the commit loops until ctx ends; pipelines commits run side
// by side so one waiting on the store does not stall the next batch.
func (c *Committer[Op]) Start(ctx context.Context, pipelines int) {
	for range max(1, pipelines) {
		c.wg.Go(func() { c.loop(ctx) })
	}
}

// Stop waits for the loops (their ctx must have ended) and fails every
// write still queued.
func (c *Committer[Op]) Stop() {
	c.wg.Wait()
	close(c.stopped)
	c.drainFail(context.Canceled)
}

func (c *Committer[Op]) loop(ctx context.Context) {
	var batch []*request[Op]
	var ops []Op
	var carry *request[Op]
	for {
		batch, ops = batch[:0], ops[:0]
		var first *request[Op]
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
		for n < c.o.MaxOps && size < c.o.MaxBytes {
			select {
			case r := <-c.reqs:
				if n+len(r.ops) > c.o.MaxOps || size+r.size > c.o.MaxBytes {
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
		err := c.o.Commit(context.WithoutCancel(ctx), ops)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (c *Committer[Op]) drainFail(cause error) {
	for {
		select {
		case r := <-c.reqs:
			r.done <- c.o.Stopped(cause)
		default:
			return
		}
	}
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
