package function

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// asyncWorkers is how many Event invocations run at once per server.
const asyncWorkers = 32

// asyncDispatcher delivers Event invocations: each is stored in etcd before
// the caller gets 202, run at least once, retried twice after a failure
// (waiting RetryBase, then twice that), then sent to the function's
// DeadLetterConfig queue, and deleted. A throttled invocation, or one
// with no agent to run it, waits without using a retry. A restarted
// server finds the stored ones and carries on (at least once: an
// invocation running when the server died runs again).
//
// Pending invocations are mirrored by a watch cache (one list at start,
// then the changes) and ordered in memory by due time, so an idle server
// reads nothing and a busy one does not list every pending invocation each
// second. Any replica may store an invocation; every replica mirrors them
// all, and runs those of the functions whose shard it owns (see
// Service.owns), so one stored invocation runs on one replica at a time.
type asyncDispatcher struct {
	s     *Service
	cache *store.Cache[model.AsyncInvocation]
	work  chan *model.AsyncInvocation
	kick  chan struct{}

	mu     sync.Mutex
	active map[string]bool  // request ids running now
	due    dueQueue         // min-heap by due time
	queued map[string]int64 // cache key -> the revision queued in due
}

func newAsyncDispatcher(s *Service) *asyncDispatcher {
	return &asyncDispatcher{s: s, cache: s.st.AsyncInvocationCache(), work: make(chan *model.AsyncInvocation, asyncWorkers),
		kick: make(chan struct{}, 1), active: map[string]bool{}, queued: map[string]int64{}}
}

// enqueue stores the invocation durably; the watch brings it to the
// due-queue of the replica delivering Event invocations.
func (d *asyncDispatcher) enqueue(ctx context.Context, fn string, payload []byte) (string, error) {
	now := time.Now()
	inv := &model.AsyncInvocation{RequestID: NewRequestID(), FunctionName: fn, Payload: payload, NextAttempt: now, Created: now}
	if err := d.s.st.PutAsyncInvocation(ctx, inv); err != nil {
		return "", err
	}
	return inv.RequestID, nil
}

// dueEntry is one stored revision of an invocation waiting for its time.
type dueEntry struct {
	at  time.Time
	key string // the cache key: <function>/<requestId>
	rev int64
}

type dueQueue []dueEntry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// push queues a stored revision (once) and wakes the loop.
func (d *asyncDispatcher) push(key string, rev int64, at time.Time) {
	d.mu.Lock()
	if d.queued[key] == rev {
		d.mu.Unlock()
		return
	}
	d.queued[key] = rev
	heap.Push(&d.due, dueEntry{at: at, key: key, rev: rev})
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// later tries the stored revision of inv again in a second (the store or
// the agents were unavailable: no attempt was used).
func (d *asyncDispatcher) later(inv *model.AsyncInvocation) {
	d.push(inv.FunctionName+"/"+inv.RequestID, inv.ModRevision, time.Now().Add(time.Second))
}

func (d *asyncDispatcher) unclaim(id string) {
	d.mu.Lock()
	delete(d.active, id)
	d.mu.Unlock()
}

func (d *asyncDispatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.cache.Run(ctx) })
	for range asyncWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case inv := <-d.work:
					d.attempt(ctx, inv)
					d.unclaim(inv.RequestID)
				}
			}
		})
	}
	defer wg.Wait()
	sub := d.cache.Subscribe()
	defer sub.Close()
	// Ownership moves without an event here: look again every second.
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.C():
			for _, ch := range sub.Drain() {
				if ch.Obj != nil {
					d.push(ch.Key, ch.Obj.ModRevision, ch.Obj.NextAttempt)
				}
			}
		case <-d.kick:
		case <-t.C:
		}
		t.Reset(min(time.Second, d.dispatch(ctx)))
	}
}

// dispatch hands the due invocations to idle workers and returns how long
// until the next one is due.
func (d *asyncDispatcher) dispatch(ctx context.Context) time.Duration {
	for ctx.Err() == nil {
		d.mu.Lock()
		if d.due.Len() == 0 {
			d.mu.Unlock()
			return time.Second
		}
		e := d.due[0]
		if wait := time.Until(e.at); wait > 0 {
			d.mu.Unlock()
			return wait
		}
		inv := d.cache.Get(e.key)
		if inv == nil || inv.ModRevision != e.rev {
			// Superseded or ended: drop the entry (a newer revision has
			// its own).
			heap.Pop(&d.due)
			if d.queued[e.key] == e.rev {
				delete(d.queued, e.key)
			}
			d.mu.Unlock()
			continue
		}
		if d.active[inv.RequestID] {
			// Its worker has not let go yet: the revision it just wrote
			// (a retry, or a wait after a throttle) can come due before
			// the worker returns. Dropping it here would strand the
			// invocation until a restart; look again shortly instead.
			d.due[0].at = time.Now().Add(10 * time.Millisecond)
			heap.Fix(&d.due, 0)
			d.mu.Unlock()
			continue
		}
		if !d.s.owns(inv.FunctionName) {
			// Another replica delivers this function's invocations. Look
			// again in a second: its shard moves here if that replica dies.
			d.due[0].at = time.Now().Add(time.Second)
			heap.Fix(&d.due, 0)
			d.mu.Unlock()
			continue
		}
		select {
		case d.work <- inv:
		default:
			d.mu.Unlock()
			return 10 * time.Millisecond // every worker busy
		}
		heap.Pop(&d.due)
		delete(d.queued, e.key)
		d.active[inv.RequestID] = true
		d.mu.Unlock()
	}
	return time.Second
}

func (d *asyncDispatcher) attempt(ctx context.Context, inv *model.AsyncInvocation) {
	s := d.s
	log := s.log.With("function", inv.FunctionName, "requestId", inv.RequestID)
	fn, err := s.lookup(ctx, inv.FunctionName)
	if errors.Is(err, model.ErrNotFound) {
		log.Warn("dropping an Event invocation: its function was deleted")
		_ = s.st.DeleteAsyncInvocation(ctx, inv.FunctionName, inv.RequestID)
		return
	}
	if err != nil {
		d.later(inv)
		return
	}
	r, err := s.call(ctx, fn, inv.RequestID, inv.Payload, false)
	if ctx.Err() != nil {
		return // shutting down: stays stored for the next run
	}
	switch {
	case err == nil && r.FunctionError == "":
		if err := s.st.DeleteAsyncInvocation(ctx, inv.FunctionName, inv.RequestID); err != nil {
			log.Warn("an Event invocation succeeded but could not be deleted; it may run again", "err", err)
		}
		return
	case errors.Is(err, ErrThrottled) || errors.Is(err, ErrNoAgents):
		// Lambda retries throttles without using a retry attempt; the
		// wait is kept in memory (rewriting the invocation in etcd every
		// second would multiply writes while no agent is there).
		d.later(inv)
		return
	}
	inv.Attempts++
	if err != nil {
		inv.LastError = err.Error()
	} else {
		inv.LastError = r.ErrorType + ": " + strings.TrimSpace(string(r.Payload))
	}
	if inv.Attempts < model.AsyncMaxAttempts {
		inv.NextAttempt = time.Now().Add(s.cfg.RetryBase << (inv.Attempts - 1))
		log.Info("Event invocation failed; retrying", "attempt", inv.Attempts, "retryAt", inv.NextAttempt.Format(time.RFC3339), "err", inv.LastError)
		if err := s.st.PutAsyncInvocation(ctx, inv); err != nil {
			log.Warn("cannot record an Event invocation's attempt", "err", err)
			d.later(inv)
		}
		return
	}
	if err := d.deadLetter(ctx, fn, inv); err != nil {
		log.Warn("cannot send a failed Event invocation to its dead-letter queue; trying again later", "err", err)
		inv.NextAttempt = time.Now().Add(s.cfg.RetryBase)
		if err := s.st.PutAsyncInvocation(ctx, inv); err != nil {
			d.later(inv)
		}
		return
	}
	if err := s.st.DeleteAsyncInvocation(ctx, inv.FunctionName, inv.RequestID); err != nil {
		log.Warn("cannot delete a given-up Event invocation", "err", err)
	}
}

// deadLetter sends the payload of an invocation that failed every attempt
// to the function's DeadLetterConfig queue, with Lambda's attributes
// (RequestID, ErrorCode, ErrorMessage). Without one it is logged and
// dropped, as Lambda drops it.
func (d *asyncDispatcher) deadLetter(ctx context.Context, fn *model.StoredFunction, inv *model.AsyncInvocation) error {
	log := d.s.log.With("function", inv.FunctionName, "requestId", inv.RequestID)
	if fn.DeadLetterConfig == nil || fn.DeadLetterConfig.TargetArn == "" || d.s.cfg.Queues == nil {
		log.Warn("Event invocation failed every attempt and the function has no DeadLetterConfig: dropped", "attempts", inv.Attempts, "err", inv.LastError)
		return nil
	}
	arn := fn.DeadLetterConfig.TargetArn
	q := arn[strings.LastIndexByte(arn, ':')+1:]
	msg := inv.LastError
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	_, err := d.s.cfg.Queues.SendMessage(ctx, q, queue.SendEntry{Body: string(inv.Payload), Attributes: map[string]model.MessageAttributeValue{
		"RequestID":    {DataType: "String", StringValue: inv.RequestID},
		"ErrorCode":    {DataType: "Number", StringValue: "200"},
		"ErrorMessage": {DataType: "String", StringValue: msg},
	}})
	if err != nil {
		return fmt.Errorf("sending to %s: %w", arn, err)
	}
	log.Warn("Event invocation failed every attempt; sent to the dead-letter queue", "queue", q, "attempts", inv.Attempts, "err", inv.LastError)
	return nil
}
