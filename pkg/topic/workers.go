package topic

import (
	"time"
)

// Deliveries to a subscription of a standard topic wait in the
// subscription's own queue and are attempted by at most workersPerSub
// goroutines of that subscription, started when work arrives and ended
// when the queue is empty. A delivery waiting for its next retry holds a
// timer, not a goroutine. So a subscriber that hangs costs a bounded
// number of goroutines and slots of its own, whatever the publish rate,
// and never delays Publish or another subscription.
//
// FIFO topics deliver through ordered chains instead (deliver.go).

// workersPerSub bounds the deliveries under way at once per subscription;
// for http/https it matches the subscription's connection slots.
const workersPerSub = httpWorkersPerSub

// deliveryQueue is a subscription's queue of pending deliveries (in
// subState, under its own lock).
type deliveryQueue struct {
	waiting []*delivery
	workers int
}

// push queues d on its subscription and starts a worker if the
// subscription has fewer than workersPerSub.
func (o *owner) push(d *delivery) {
	ss := d.ss
	ss.wMu.Lock()
	ss.work.waiting = append(ss.work.waiting, d)
	start := ss.work.workers < workersPerSub
	if start {
		ss.work.workers++
	}
	ss.wMu.Unlock()
	if start && !o.goBackground(func() { o.work(ss) }) {
		ss.wMu.Lock()
		ss.work.workers--
		ss.wMu.Unlock()
	}
}

// work attempts ss's queued deliveries until none is left or the owner
// stops (what is left stays pending in etcd for the next owner).
func (o *owner) work(ss *subState) {
	for {
		ss.wMu.Lock()
		if len(ss.work.waiting) == 0 || o.ctx.Err() != nil {
			ss.work.workers--
			ss.work.waiting = nil
			ss.wMu.Unlock()
			return
		}
		d := ss.work.waiting[0]
		ss.work.waiting[0] = nil
		ss.work.waiting = ss.work.waiting[1:]
		ss.wMu.Unlock()
		delay, again, ok := o.attempt(d)
		if !ok {
			continue // stopping: the loop ends at its next turn
		}
		if again {
			o.retryAfter(d, delay)
		}
	}
}

// retryAfter queues d again once delay has passed, on a timer that stop
// cancels.
func (o *owner) retryAfter(d *delivery, delay time.Duration) {
	if delay <= 0 {
		o.push(d)
		return
	}
	o.bgMu.Lock()
	defer o.bgMu.Unlock()
	if o.stopping {
		return
	}
	o.retries[d] = o.s.clock.AfterFunc(delay, func() {
		o.bgMu.Lock()
		_, live := o.retries[d]
		delete(o.retries, d)
		o.bgMu.Unlock()
		if live {
			o.push(d)
		}
	})
}

// stopRetries cancels every retry timer (under o.bgMu, with stopping set).
func (o *owner) stopRetries() {
	for d, t := range o.retries {
		t.Stop()
		delete(o.retries, d)
	}
}

// queued is how many deliveries wait in ss's queue (not counting those
// under way or waiting for a retry), for tests.
func (ss *subState) queued() int {
	ss.wMu.Lock()
	defer ss.wMu.Unlock()
	return len(ss.work.waiting)
}
