package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// reporter batches task status reports. Task goroutines submit full
// snapshots of what they observed; the reporter keeps the latest per task
// (earlier snapshots are superseded, but history events are never merged
// away), and one goroutine sends everything pending in one request shortly
// after the first report arrives. On failure the batch goes back in front of
// whatever arrived meanwhile and is retried with backoff, so the latest
// state of every task is eventually delivered.
type reporter struct {
	cp       ControlPlane
	node     string
	log      *slog.Logger
	linger   time.Duration // how long to gather reports before sending
	maxBatch int
	minRetry time.Duration
	maxRetry time.Duration

	// onUnknownNode is called when the control plane says it does not
	// know the node (the session then registers again).
	onUnknownNode atomic.Pointer[func()]

	kick  chan struct{} // new reports
	retry chan struct{} // retry now (after a re-register)

	mu       sync.Mutex
	pending  map[string][]wire.TaskStatusReport
	order    []string // tasks with pending reports, oldest first
	inflight int
	idle     []chan struct{} // closed when nothing is pending or in flight
}

func newReporter(cp ControlPlane, node string, log *slog.Logger) *reporter {
	return &reporter{
		cp: cp, node: node, log: log,
		linger:   5 * time.Millisecond,
		maxBatch: 500,
		minRetry: 200 * time.Millisecond,
		maxRetry: 10 * time.Second,
		kick:     make(chan struct{}, 1),
		retry:    make(chan struct{}, 1),
		pending:  map[string][]wire.TaskStatusReport{},
	}
}

// merge appends rep to a task's queue, replacing the last snapshot unless
// both carry a history event.
func merge(q []wire.TaskStatusReport, rep wire.TaskStatusReport) []wire.TaskStatusReport {
	if n := len(q); n > 0 {
		last := &q[n-1]
		if last.Event == "" || rep.Event == "" {
			if rep.Event == "" {
				rep.Event = last.Event
			}
			*last = rep
			return q
		}
	}
	return append(q, rep)
}

// submit queues a report; it never blocks on the network.
func (r *reporter) submit(rep wire.TaskStatusReport) {
	r.mu.Lock()
	q, ok := r.pending[rep.TaskID]
	if !ok || len(q) == 0 {
		r.order = append(r.order, rep.TaskID)
	}
	r.pending[rep.TaskID] = merge(q, rep)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// forget drops pending reports of a task that is no longer assigned.
func (r *reporter) forget(taskID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[taskID]; !ok {
		return
	}
	delete(r.pending, taskID)
	for i, id := range r.order {
		if id == taskID {
			r.order = append(r.order[:i:i], r.order[i+1:]...)
			break
		}
	}
	r.signalIdleLocked()
}

// poke makes a waiting retry happen now (e.g. after registering again).
func (r *reporter) poke() {
	select {
	case r.retry <- struct{}{}:
	default:
	}
}

// take removes up to max reports, whole tasks at a time, oldest first.
func (r *reporter) take() []wire.TaskStatusReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	var batch []wire.TaskStatusReport
	i := 0
	for ; i < len(r.order) && len(batch) < r.maxBatch; i++ {
		id := r.order[i]
		batch = append(batch, r.pending[id]...)
		delete(r.pending, id)
	}
	r.order = r.order[i:]
	if len(batch) > 0 {
		r.inflight++
	}
	return batch
}

// done ends an attempt; failed reports go back in front of newer ones.
func (r *reporter) done(batch []wire.TaskStatusReport, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if failed {
		byTask := map[string][]wire.TaskStatusReport{}
		var tasks []string
		for _, rep := range batch {
			if _, ok := byTask[rep.TaskID]; !ok {
				tasks = append(tasks, rep.TaskID)
			}
			byTask[rep.TaskID] = merge(byTask[rep.TaskID], rep)
		}
		var front []string
		for _, id := range tasks {
			q := byTask[id]
			newer, had := r.pending[id]
			for _, rep := range newer {
				q = merge(q, rep)
			}
			r.pending[id] = q
			if !had {
				front = append(front, id)
			}
		}
		r.order = append(front, r.order...)
	}
	r.signalIdleLocked()
}

func (r *reporter) signalIdleLocked() {
	if len(r.order) == 0 && r.inflight == 0 {
		for _, ch := range r.idle {
			close(ch)
		}
		r.idle = nil
	}
}

// flushed waits until nothing is pending or in flight, or ctx ends.
func (r *reporter) flushed(ctx context.Context) error {
	r.mu.Lock()
	if len(r.order) == 0 && r.inflight == 0 {
		r.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	r.idle = append(r.idle, ch)
	r.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends batches until ctx ends.
func (r *reporter) run(ctx context.Context) {
	b := newBackoff(r.minRetry, r.maxRetry)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-r.retry:
		}
		if r.linger > 0 && !sleepCtx(ctx, r.linger) {
			return
		}
		for {
			batch := r.take()
			if len(batch) == 0 {
				break
			}
			err := r.cp.ReportStatus(ctx, r.node, batch)
			if err != nil && rejected(err) {
				// Retrying a request the server refuses as such would
				// block every later report: drop it.
				r.log.Error("the control plane rejected a status batch; dropping it", "err", err, "reports", len(batch))
				err = nil
			}
			r.done(batch, err != nil)
			if err == nil {
				if failures > 0 {
					r.log.Info("status reports delivered again", "afterFailures", failures)
				}
				failures = 0
				b.reset()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			failures++
			if errors.Is(err, wire.ErrUnknownNode) || errors.Is(err, wire.ErrUnauthorized) {
				if f := r.onUnknownNode.Load(); f != nil {
					(*f)()
				}
			}
			d := b.next()
			if failures == 1 || failures%10 == 0 {
				r.log.Warn("status report failed; will retry", "err", err, "reports", len(batch), "failures", failures, "retryIn", d.Round(time.Millisecond))
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-r.retry:
				t.Stop()
			}
		}
	}
}

// rejected reports whether the control plane refused the request itself
// (a 4xx other than timeouts, throttling, unknown node or bad credentials),
// so that sending it again cannot succeed.
func rejected(err error) bool {
	if errors.Is(err, wire.ErrUnknownNode) || errors.Is(err, wire.ErrUnauthorized) {
		return false
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		return false
	}
	switch {
	case ce.Status == http.StatusRequestTimeout, ce.Status == http.StatusTooManyRequests:
		return false
	default:
		return ce.Status >= 400 && ce.Status < 500
	}
}
