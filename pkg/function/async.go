package function

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
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
type asyncDispatcher struct {
	s      *Service
	work   chan *model.AsyncInvocation
	kick   chan struct{}
	mu     sync.Mutex
	active map[string]bool
	// waitUntil holds invocations that found no agent or were throttled:
	// they wait in memory (rewriting them in etcd every second would
	// multiply writes while no agent is there).
	waitUntil map[string]time.Time
}

func newAsyncDispatcher(s *Service) *asyncDispatcher {
	return &asyncDispatcher{s: s, work: make(chan *model.AsyncInvocation, 1024), kick: make(chan struct{}, 1), active: map[string]bool{}, waitUntil: map[string]time.Time{}}
}

// enqueue stores the invocation durably and hands it to a worker.
func (d *asyncDispatcher) enqueue(ctx context.Context, fn string, payload []byte) (string, error) {
	now := time.Now()
	inv := &model.AsyncInvocation{RequestID: NewRequestID(), FunctionName: fn, Payload: payload, NextAttempt: now, Created: now}
	if err := d.s.st.PutAsyncInvocation(ctx, inv); err != nil {
		return "", err
	}
	if d.owned() && d.claim(inv.RequestID) {
		select {
		case d.work <- inv:
		default:
			d.unclaim(inv.RequestID) // busy: the next scan takes it
		}
	}
	return inv.RequestID, nil
}

func (d *asyncDispatcher) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active[id] || time.Now().Before(d.waitUntil[id]) {
		return false
	}
	delete(d.waitUntil, id)
	d.active[id] = true
	return true
}

func (d *asyncDispatcher) unclaim(id string) {
	d.mu.Lock()
	delete(d.active, id)
	d.mu.Unlock()
}

func (d *asyncDispatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
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
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		d.scan(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// owned reports whether this replica delivers Event invocations: the one
// owning the queues (as for mappings), so that several replicas do not
// run the same stored invocation.
func (d *asyncDispatcher) owned() bool {
	o, ok := d.s.cfg.Queues.(Owner)
	return !ok || o.Owned()
}

// scan hands the stored invocations that are due to the workers.
func (d *asyncDispatcher) scan(ctx context.Context) {
	if !d.owned() {
		return
	}
	invs, err := d.s.st.ListAsyncInvocations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.s.log.Warn("cannot list pending Event invocations; retrying", "err", err)
		}
		return
	}
	now := time.Now()
	for _, inv := range invs {
		if inv.NextAttempt.After(now) || !d.claim(inv.RequestID) {
			continue
		}
		select {
		case d.work <- inv:
		default:
			d.unclaim(inv.RequestID)
			return
		}
	}
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
		return // the next scan tries again
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
		// Lambda retries throttles without using a retry attempt.
		d.mu.Lock()
		d.waitUntil[inv.RequestID] = time.Now().Add(time.Second)
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	delete(d.waitUntil, inv.RequestID)
	d.mu.Unlock()
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
		}
		return
	}
	if err := d.deadLetter(ctx, fn, inv); err != nil {
		log.Warn("cannot send a failed Event invocation to its dead-letter queue; trying again later", "err", err)
		inv.NextAttempt = time.Now().Add(s.cfg.RetryBase)
		_ = s.st.PutAsyncInvocation(ctx, inv)
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
