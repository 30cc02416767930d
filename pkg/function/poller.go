package function

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// Queue is what a queue event source needs from the broker.
type Queue interface {
	ReceiveMessage(ctx context.Context, name string, in queue.ReceiveInput) ([]queue.ReceivedMessage, error)
	DeleteMessageBatch(ctx context.Context, name string, es []queue.BatchHandle) ([]string, []queue.BatchError, error)
}

// Invoker runs a function synchronously: the response (or error document),
// whether the function failed (an error, a panic, a timeout), or err when
// it could not run at all (throttled, no environment).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (resp []byte, failed bool, err error)
}

// QueueSource is one enabled queue event source mapping.
type QueueSource struct {
	Mapping   model.EventSourceMapping // normalized and validated
	QueueName string
	Log       *slog.Logger
	// OnBatch, when set, is told each batch's outcome (tests, metrics).
	OnBatch func(received, deleted int, reason string)
	// onPollers, when set, is told the number of pollers when it changes
	// (tests).
	onPollers func(n int)
}

// DefaultQueueConcurrency is how many batches a mapping without
// ScalingConfig runs at once while its queue has no backlog (Lambda
// starts with five pollers).
const DefaultQueueConcurrency = 5

// DefaultQueueMaxConcurrency is how far a mapping without ScalingConfig
// grows with a backlog: Lambda goes up to 1,250 batches at once, but
// one agent runs at most 32 environments of a function (128 invocations
// at the default 4 per environment), so a larger default would only
// queue invocations on the agent; ScalingConfig.MaximumConcurrency sets
// any figure from 2 to 1,000.
const DefaultQueueMaxConcurrency = 50

// growEvery is how often a mapping without ScalingConfig adds a poller
// while its batches come back full (Lambda adds up to 300 a
// minute; this is 20 a second, so a backlog drained in seconds is
// drained by more than the first five).
const growEvery = 50 * time.Millisecond

// deletesPerPoller is how many batches' deletes may be in flight per
// poller, shared by a mapping's pollers.
const deletesPerPoller = 4

// Returner is a Queue that can make received messages visible again at
// once (pkg/queue's Broker): a poller stopping with a batch it received
// ahead but never ran gives it back instead of leaving it invisible for
// the visibility timeout.
type Returner interface {
	ChangeMessageVisibilityBatch(ctx context.Context, name string, es []queue.BatchHandle) ([]string, []queue.BatchError, error)
}

// Run polls the queue and invokes the function until ctx ends, as Lambda's
// SQS event source does: batches of up to BatchSize, gathered for at most
// MaximumBatchingWindowInSeconds; success deletes the batch; a failure
// leaves it to reappear after the visibility timeout (and reach the
// dead-letter queue through the queue's redrive policy); with
// ReportBatchItemFailures only the listed messages stay. At most
// ScalingConfig.MaximumConcurrency batches run at once.
//
// Each poller is a pipeline: while there is a backlog (its last batch was
// full) it receives its next batch while the function runs the current
// one, and the deletes run beside both, so the function waits neither for
// the queue's receive nor for its delete. A delete is a durable commit
// that can take longer than an invocation (a busy disk), so the pollers
// share deletesPerPoller batches' deletes in flight each rather than
// waiting for their own previous one; past that they wait (a stuck store
// slows the pollers down instead of piling up batches).
//
// A mapping with ScalingConfig runs MaximumConcurrency pollers from the
// start (the user chose the figure). One without starts with
// DefaultQueueConcurrency and, as Lambda does, grows with the backlog:
// one poller more every growEvery while batches come back full (up to
// DefaultQueueMaxConcurrency), and a poller beyond the
// first five stops when its queue runs dry (an empty long poll) or its
// function refuses the batch (throttled by its reserved concurrency, no
// agent): it leaves the messages to the visibility timeout as before,
// and the others carry on.
func (s QueueSource) Run(ctx context.Context, q Queue, inv Invoker) {
	base, most := DefaultQueueConcurrency, DefaultQueueMaxConcurrency
	if s.Mapping.ScalingConfig != nil {
		base = s.Mapping.ScalingConfig.MaximumConcurrency
		most = base
	}
	var wg, deletes sync.WaitGroup
	p := &pollers{base: base, most: most, n: base, changed: s.onPollers}
	deleting := make(chan struct{}, deletesPerPoller*most)
	p.start = func() { wg.Go(func() { s.poll(ctx, q, inv, deleting, &deletes, p) }) }
	for range base {
		p.start()
	}
	if most > base {
		wg.Go(func() {
			t := time.NewTicker(growEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.grow()
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	deletes.Wait()
}

// pollers counts a mapping's pollers and decides when one more starts
// or one stops.
type pollers struct {
	base, most int
	start      func()
	changed    func(n int) // QueueSource.onPollers

	full atomic.Bool // a full batch since the last grow
	mu   sync.Mutex
	n    int
}

// backlog is told a poller received a full batch.
func (p *pollers) backlog() { p.full.Store(true) }

// grow runs every growEvery while the mapping runs: one more poller if
// a full batch came since the last time and there is room. (Not on the
// full batch itself: with slow invocations every poller may be busy
// running one, and the new poller's first batch must be able to start
// the next.)
func (p *pollers) grow() {
	if !p.full.Swap(false) {
		return
	}
	p.mu.Lock()
	grow := p.n < p.most
	if grow {
		p.n++
		if p.changed != nil {
			p.changed(p.n)
		}
	}
	p.mu.Unlock()
	if grow {
		p.start()
	}
}

// idle is told a poller found no work (or its function refused it): it
// reports whether that poller should stop (one beyond the base).
func (p *pollers) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n > p.base {
		p.n--
		if p.changed != nil {
			p.changed(p.n)
		}
		return true
	}
	return false
}

// count is how many pollers run (tests).
func (p *pollers) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

type received struct {
	msgs []queue.ReceivedMessage
	err  error
}

// poll is one poller: receive ahead, run, delete beside.
func (s QueueSource) poll(ctx context.Context, q Queue, inv Invoker, deleting chan struct{}, deletes *sync.WaitGroup, p *pollers) {
	next := make(chan received, 1)
	fetch := func() {
		msgs, err := s.gather(ctx, q)
		next <- received{msgs, err}
	}
	go fetch()
	for {
		var r received
		select {
		case r = <-next:
		case <-ctx.Done():
			s.giveBack(q, <-next)
			return
		}
		if ctx.Err() != nil {
			s.giveBack(q, r)
			return
		}
		if r.err != nil {
			s.logger().Warn("queue event source", "queue", s.QueueName, "function", s.Mapping.FunctionName, "err", r.err)
			select { // a broken queue: do not spin
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			go fetch()
			continue
		}
		if len(r.msgs) == 0 {
			if p.idle() {
				return // the queue ran dry: back towards the base
			}
			go fetch()
			continue
		}
		// A full batch means a backlog: receive the next one while this
		// one runs. A partial batch means the queue is keeping up; a batch
		// received now would wait behind this one while an idle poller
		// could run it at once, so receive after it instead.
		ahead := len(r.msgs) >= max(1, s.Mapping.BatchSize)
		if ahead {
			p.backlog()
			go fetch()
		}
		err := s.run(ctx, q, inv, r.msgs, deleting, deletes)
		if err != nil && ctx.Err() == nil && p.idle() {
			// Refused (throttled, no agent): one poller fewer. The
			// batch received ahead goes back to the queue.
			if ahead {
				s.giveBack(q, <-next)
			}
			return
		}
		if !ahead {
			go fetch()
		}
		if err != nil && ctx.Err() == nil {
			s.logger().Warn("queue event source", "queue", s.QueueName, "function", s.Mapping.FunctionName, "err", err)
			select { // a broken function: do not spin
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// giveBack makes a batch received ahead but never run visible again.
func (s QueueSource) giveBack(q Queue, r received) {
	rq, ok := q.(Returner)
	if !ok || len(r.msgs) == 0 {
		return
	}
	hs := make([]queue.BatchHandle, 0, len(r.msgs))
	for i, m := range r.msgs {
		hs = append(hs, queue.BatchHandle{ID: strconv.Itoa(i), Handle: m.ReceiptHandle})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(hs) > 0 {
		k := min(10, len(hs))
		_, _, _ = rq.ChangeMessageVisibilityBatch(ctx, s.QueueName, hs[:k]) // on failure the timeout brings them back
		hs = hs[k:]
	}
}

// run invokes the function with one batch and starts deleting what the
// outcome says.
func (s QueueSource) run(ctx context.Context, q Queue, inv Invoker, msgs []queue.ReceivedMessage, deleting chan struct{}, deletes *sync.WaitGroup) error {
	doc, err := SQSEvent(s.Mapping.EventSourceArn, msgs)
	if err != nil {
		return err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MessageID
	}
	resp, failed, err := inv.Invoke(ctx, s.Mapping.FunctionName, doc)
	if err != nil {
		// Never ran: the batch reappears after its visibility timeout.
		if s.OnBatch != nil {
			s.OnBatch(len(msgs), 0, err.Error())
		}
		return err
	}
	del, reason := BatchOutcome(ids, resp, failed, s.Mapping.ReportsBatchItemFailures())
	var hs []queue.BatchHandle
	for i, m := range msgs {
		if del[i] {
			hs = append(hs, queue.BatchHandle{ID: strconv.Itoa(i), Handle: m.ReceiptHandle})
		}
	}
	deleting <- struct{}{} // bounded: see Run
	deletes.Go(func() {
		defer func() { <-deleting }()
		deleted := s.delete(ctx, q, hs)
		if s.OnBatch != nil {
			s.OnBatch(len(msgs), deleted, reason)
		}
	})
	return nil
}

// delete deletes processed messages, ten at a time; it returns how many.
func (s QueueSource) delete(ctx context.Context, q Queue, hs []queue.BatchHandle) int {
	deleted := 0
	for len(hs) > 0 {
		k := min(10, len(hs))
		ok, fails, err := q.DeleteMessageBatch(context.WithoutCancel(ctx), s.QueueName, hs[:k])
		if err != nil {
			// The messages run again after their visibility timeout.
			s.logger().Warn("deleting processed messages", "queue", s.QueueName, "messages", k, "err", err)
		}
		deleted += len(ok)
		for _, f := range fails {
			// A handle that expired (the batch ran past the visibility
			// timeout) cannot be deleted: the message runs again.
			if !errors.Is(f.Err, context.Canceled) {
				s.logger().Warn("deleting a processed message", "queue", s.QueueName, "err", f.Err)
			}
		}
		hs = hs[k:]
	}
	return deleted
}

func (s QueueSource) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// gather receives up to BatchSize messages: it long-polls for the first,
// then keeps receiving (without waiting) until the batch is full or the
// batching window has passed.
func (s QueueSource) gather(ctx context.Context, q Queue) ([]queue.ReceivedMessage, error) {
	size := s.Mapping.BatchSize
	all := []string{"All"}
	wait := 20
	var out []queue.ReceivedMessage
	deadline := time.Now().Add(time.Duration(s.Mapping.MaximumBatchingWindowInSeconds) * time.Second)
	for len(out) < size {
		w := wait
		if len(out) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			w = min(int(left/time.Second), 20)
		}
		msgs, err := q.ReceiveMessage(ctx, s.QueueName, queue.ReceiveInput{
			MaxNumberOfMessages: min(10, size-len(out)), WaitTimeSeconds: &w,
			AttributeNames: all, MessageAttributeNames: all,
		})
		if err != nil {
			if len(out) > 0 {
				return out, nil // run what we have; the error recurs next time
			}
			return nil, err
		}
		out = append(out, msgs...)
		if len(out) > 0 && s.Mapping.MaximumBatchingWindowInSeconds == 0 {
			break
		}
		if len(msgs) == 0 && len(out) > 0 {
			break
		}
	}
	return out, nil
}
