package fake

import (
	"context"
	"maps"
	"sync"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// subscriber is one Events stream. Events queue without bound and one pump
// goroutine per subscriber delivers them in order, so the runtime never
// blocks on a slow consumer and never drops an event.
type subscriber struct {
	ch   chan runtime.Event
	errc chan error

	mu     sync.Mutex
	queue  []runtime.Event
	broken error
	wake   chan struct{} // cap 1
}

// Events implements runtime.Runtime. The error channel yields one error
// (ctx.Err() when ctx ends, or why the stream broke) and then both channels
// close.
func (rt *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	s := &subscriber{
		ch:   make(chan runtime.Event),
		errc: make(chan error, 1),
		wake: make(chan struct{}, 1),
	}
	rt.mu.Lock()
	if err := rt.down; err != nil {
		rt.mu.Unlock()
		s.errc <- err
		close(s.errc)
		close(s.ch)
		return s.ch, s.errc
	}
	rt.subs[s] = struct{}{}
	rt.mu.Unlock()
	go s.pump(ctx, func() {
		rt.mu.Lock()
		delete(rt.subs, s)
		rt.mu.Unlock()
	})
	return s.ch, s.errc
}

// BreakEvents ends every current Events stream with err, as a daemon
// restart would. New subscriptions work at once.
func (rt *Runtime) BreakEvents(err error) {
	rt.mu.Lock()
	var subs []*subscriber
	for s := range rt.subs {
		subs = append(subs, s)
	}
	clear(rt.subs)
	rt.mu.Unlock()
	for _, s := range subs {
		s.breakWith(err)
	}
}

// emit queues an event for every subscriber. Caller holds rt.mu, which keeps
// events in order.
func (rt *Runtime) emit(c *container, action string) {
	if c.state.Labels[runtime.LabelManaged] != "true" || len(rt.subs) == 0 {
		return
	}
	ev := runtime.Event{ContainerID: c.state.ID, Labels: maps.Clone(c.state.Labels), Action: action}
	for s := range rt.subs {
		s.push(ev)
	}
}

func (s *subscriber) push(ev runtime.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) breakWith(err error) {
	s.mu.Lock()
	if s.broken == nil {
		s.broken = err
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) pump(ctx context.Context, unsubscribe func()) {
	defer close(s.ch)
	defer close(s.errc)
	defer unsubscribe()
	for {
		s.mu.Lock()
		q, broken := s.queue, s.broken
		s.queue = nil
		s.mu.Unlock()
		if broken != nil {
			// Undelivered events are lost, as when a real stream is
			// cut; consumers re-inspect after re-subscribing.
			q = nil
		}
		for _, ev := range q {
			select {
			case s.ch <- ev:
			case <-ctx.Done():
				s.errc <- ctx.Err()
				return
			}
		}
		if broken != nil {
			s.errc <- broken
			return
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			s.errc <- ctx.Err()
			return
		}
	}
}
