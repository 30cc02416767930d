package queue

import "sync"

// sendListeners are told the name of every queue that received messages,
// right after the messages are durable and receivable. The autoscaler
// uses it to wake a service at zero tasks on its first message instead of
// polling.
type sendListeners struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(queue string)
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
	return func() {
		l.mu.Lock()
		delete(l.fns, id)
		l.mu.Unlock()
	}
}

func (l *sendListeners) notify(queue string) {
	l.mu.Lock()
	fns := make([]func(string), 0, len(l.fns))
	for _, f := range l.fns {
		fns = append(fns, f)
	}
	l.mu.Unlock()
	for _, f := range fns {
		f(queue)
	}
}
