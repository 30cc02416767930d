package queue

import (
	"context"
	"sync/atomic"
	"time"
)

// CommitLinger bounds how long a shard's due commit waits for writes that
// requests already inside the server have announced (ExpectWrite) and not
// yet submitted. With single messages the commit's fdatasync is the
// largest cost a write has that does not shrink with grouping; a write a
// few microseconds from its Submit otherwise misses the commit about to
// start and costs the next one alone. The wait never happens when nothing
// is announced, and ends as soon as every announced write has arrived or
// been withdrawn, so it holds a request back only for writes that are
// really on their way.
const CommitLinger = 250 * time.Microsecond

// Expectation is a write announced to its shard's commit loop by
// ExpectWrite; Done ends it if the write never reached the loop.
type Expectation struct {
	com     *committer
	pending atomic.Bool
}

type expectKey struct{}

// ExpectWrite announces that the request in ctx is about to write to queue
// name (a send or a delete, authenticated and decoded), so a commit that
// becomes due meanwhile waits for it (CommitLinger). It returns ctx
// carrying the announcement, which the write's commit consumes, and the
// Expectation, whose Done the caller must call once the request is over
// (it withdraws an announcement nothing consumed: the request failed,
// wrote nothing, or went to another replica). When this server does not
// own the queue's shard it announces nothing.
func (b *Broker) ExpectWrite(ctx context.Context, name string) (context.Context, *Expectation) {
	b.mu.RLock()
	o := b.owners[b.shardOf(name)]
	b.mu.RUnlock()
	if o == nil || o.com == nil {
		return ctx, nil
	}
	e := &Expectation{com: o.com}
	e.pending.Store(true)
	o.com.Expect()
	return context.WithValue(ctx, expectKey{}, e), e
}

// Done withdraws the announcement if its write never reached the commit
// loop. A nil Expectation does nothing.
func (e *Expectation) Done() {
	if e != nil && e.pending.CompareAndSwap(true, false) {
		e.com.Withdraw()
	}
}

// arrive consumes the announcement ctx carries for c, just before its
// write is submitted (another committer's, after a shard moved, is left to
// Done). A commit of nothing (a delete of a message already gone) submits
// nothing the loop would see arrive, so it withdraws.
func (c *committer) arrive(ctx context.Context, nops int) {
	if e, ok := ctx.Value(expectKey{}).(*Expectation); ok && e.com == c && e.pending.CompareAndSwap(true, false) {
		if nops > 0 {
			c.Arrive()
		} else {
			c.Withdraw()
		}
	}
}
