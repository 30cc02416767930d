package queue

import (
	"time"

	"github.com/orch-project/orch/pkg/store"
)

// sweepLoop deletes, every SweepInterval, messages past their retention
// period and expired FIFO deduplication records, until the owner stops.
func (o *owner) sweepLoop() {
	for {
		tick, release := after(o.b.clock, o.b.opts.SweepInterval)
		select {
		case <-o.ctx.Done():
			release()
			return
		case <-tick:
		}
		o.sweep()
	}
}

// sweep is one pass of sweepLoop over every queue.
func (o *owner) sweep() {
	now := o.b.clock.Now()
	o.mu.Lock()
	qs := make([]*queue, 0, len(o.queues))
	for _, q := range o.queues {
		qs = append(qs, q)
	}
	// Names of queues deleted over a minute ago may be created again.
	for n, at := range o.deletedAt {
		if now.Sub(at) > time.Minute {
			delete(o.deletedAt, n)
		}
	}
	o.mu.Unlock()
	for _, q := range qs {
		o.sweepQueue(q, now)
	}
}

func (o *owner) sweepQueue(q *queue, now time.Time) {
	nowMs := now.UnixMilli()
	var ops []store.QueueOp
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return
	}
	for _, m := range q.msgs {
		if m.state != stInflight && q.expired(m, nowMs) {
			q.remove(m)
			ops = append(ops, store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: q.meta.ID, ID: m.MessageID})
		}
	}
	for k, d := range q.dedup {
		if d.expires <= nowMs {
			delete(q.dedup, k)
			ops = append(ops, store.QueueOp{Kind: store.QueueDeleteDedup, QueueID: q.meta.ID, ID: k})
		}
	}
	qid := q.meta.ID
	q.mu.Unlock()
	o.commitChunks(qid, ops)
}
