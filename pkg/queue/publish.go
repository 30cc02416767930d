package queue

import (
	"context"
	"errors"
	"time"

	"github.com/orch-project/orch/pkg/store"
)

// Backlog publication. The autoscaler runs in the controller leader, which
// need not be the replica owning the queues, and the backlogs and send
// notifications live in the owner's memory. So the owner publishes the
// backlog of each queue an autoscaling policy follows into etcd
// (store.QueueBacklog, bound to its election lease): at once when a send
// finds the published backlog at 0 (the wake-from-zero signal), at most
// every publishGap while messages keep arriving, and every publishTick
// otherwise (receives and deletes have no notification). Only changed
// values are written, and only for followed queues, so queues nobody
// scales on cost nothing.
const (
	publishGap  = 100 * time.Millisecond
	publishTick = time.Second
)

// PublishBacklogs makes the replica owning the queues publish the backlog
// of every queue follow accepts (follow must be cheap and safe for
// concurrent use). Call it before Run.
func (b *Broker) PublishBacklogs(follow func(queue string) bool) {
	b.mu.Lock()
	b.follow = follow
	b.mu.Unlock()
}

type published struct {
	n  int
	at time.Time
}

// publishLoop runs while this replica owns the queues.
func (o *owner) publishLoop() {
	o.b.mu.RLock()
	follow := o.b.follow
	o.b.mu.RUnlock()
	if follow == nil {
		return
	}
	sent := make(chan string, 256)
	// Only sends to followed queues wake this loop: waking a goroutine
	// for every send to a queue nobody scales on cost about 5 % of the
	// server's CPU at one message per request (follow is cheap).
	cancel := o.b.OnSend(func(q string) {
		if !follow(q) {
			return
		}
		select {
		case sent <- q:
		default: // the tick publishes it
		}
	})
	defer cancel()
	last := map[string]published{}
	pending := map[string]bool{}
	tick := time.NewTicker(publishTick)
	defer tick.Stop()
	gap := time.NewTimer(publishGap)
	gap.Stop()
	armed := false
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-tick.C:
			o.publishAll(follow, last)
		case q := <-sent:
			if !follow(q) {
				continue
			}
			p, ok := last[q]
			if !ok || p.n == 0 || time.Since(p.at) >= publishGap {
				o.publishBacklog(q, last)
				continue
			}
			pending[q] = true
			if !armed {
				gap.Reset(publishGap)
				armed = true
			}
		case <-gap.C:
			armed = false
			for q := range pending {
				o.publishBacklog(q, last)
			}
			clear(pending)
		}
	}
}

// publishAll publishes every followed queue's backlog and removes those
// no longer followed or deleted.
func (o *owner) publishAll(follow func(string) bool, last map[string]published) {
	o.mu.RLock()
	names := make([]string, 0, len(o.queues))
	for n := range o.queues {
		names = append(names, n)
	}
	o.mu.RUnlock()
	seen := map[string]bool{}
	for _, n := range names {
		if follow(n) {
			seen[n] = true
			o.publishBacklog(n, last)
		}
	}
	for n := range last {
		if !seen[n] {
			o.unpublish(n, last)
		}
	}
}

// publishBacklog writes queue name's backlog if it changed since it was
// last published.
func (o *owner) publishBacklog(name string, last map[string]published) {
	q, err := o.queue(name)
	if err != nil {
		o.unpublish(name, last)
		return
	}
	q.mu.Lock()
	n := q.nVisible + q.nInflight
	q.mu.Unlock()
	if p, ok := last[name]; ok && p.n == n {
		return
	}
	ctx, cancel := context.WithTimeout(o.ctx, 2*time.Second)
	defer cancel()
	now := time.Now()
	if err := o.b.st.PutQueueBacklog(ctx, store.QueueBacklog{Queue: name, Backlog: n, At: now}, o.leader); err != nil {
		if !errors.Is(err, store.ErrNotLeader) && o.ctx.Err() == nil {
			o.b.log.Warn("publishing a queue's backlog for the autoscaler failed; retrying within a second", "queue", name, "err", err)
		}
		return
	}
	last[name] = published{n: n, at: now}
}

func (o *owner) unpublish(name string, last map[string]published) {
	if _, ok := last[name]; !ok {
		return
	}
	ctx, cancel := context.WithTimeout(o.ctx, 2*time.Second)
	defer cancel()
	if err := o.b.st.DeleteQueueBacklog(ctx, name); err == nil {
		delete(last, name)
	}
}
