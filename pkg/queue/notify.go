package queue

import (
	"sync"
	"sync/atomic"
)

// sendListeners are told the name of every queue that received messages,
// right after the messages are receivable (and durable, except a topic's
// early copies, which may still be taken back: a spurious wake-up at
// worst; SendEachEarly). The autoscaler uses it to wake a service at zero
// tasks on its first message instead of polling.
//
// notify runs on every send, so it reads an immutable snapshot of the
// listeners (rebuilt under mu when one registers or leaves) instead of
// copying the set under a lock each time.
type sendListeners struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(queue string)
	snap atomic.Pointer[[]func(queue string)]
}

// OnSend registers f to be called (on the sender's goroutine; it must not
// block) with the queue name after every successful send to it. The
// returned function unregisters f.
func (b *Broker) OnSend(f func(queue string)) (cancel func()) {
	l := &b.sends
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fns == nil {
		l.fns = map[int]func(string){}
	}
	id := l.next
	l.next++
	l.fns[id] = f
	l.publishLocked()
	return func() {
		l.mu.Lock()
		delete(l.fns, id)
		l.publishLocked()
		l.mu.Unlock()
	}
}

// publishLocked replaces the snapshot notify reads.
func (l *sendListeners) publishLocked() {
	fns := make([]func(string), 0, len(l.fns))
	for _, f := range l.fns {
		fns = append(fns, f)
	}
	l.snap.Store(&fns)
}

func (l *sendListeners) notify(queue string) {
	fns := l.snap.Load()
	if fns == nil {
		return
	}
	for _, f := range *fns {
		f(queue)
	}
}
