package function

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// fullQueue hands out full batches (size messages) while it has a
// backlog, then empty receives.
type fullQueue struct {
	size    int
	backlog atomic.Int64
	next    atomic.Int64
}

func (q *fullQueue) ReceiveMessage(ctx context.Context, name string, in queue.ReceiveInput) ([]queue.ReceivedMessage, error) {
	var out []queue.ReceivedMessage
	for range in.MaxNumberOfMessages {
		if q.backlog.Add(-1) < 0 {
			q.backlog.Add(1)
			break
		}
		id := fmt.Sprintf("m%d", q.next.Add(1))
		out = append(out, queue.ReceivedMessage{MessageID: id, ReceiptHandle: "h-" + id, Body: `{}`})
	}
	if len(out) == 0 {
		select { // a short long poll
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

func (q *fullQueue) DeleteMessageBatch(ctx context.Context, name string, es []queue.BatchHandle) ([]string, []queue.BatchError, error) {
	ok := make([]string, len(es))
	for i, e := range es {
		ok[i] = e.ID
	}
	return ok, nil, nil
}

// holdInvoker keeps every invocation running until released and counts
// how many run at once.
type holdInvoker struct {
	mu            sync.Mutex
	running, peak int
	release       chan struct{}
	refuse        atomic.Bool // answer as a throttled function does
}

func (h *holdInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, bool, error) {
	if h.refuse.Load() {
		return nil, false, fmt.Errorf("%w: test", ErrThrottled)
	}
	h.mu.Lock()
	h.running++
	h.peak = max(h.peak, h.running)
	release := h.release
	h.mu.Unlock()
	defer func() { h.mu.Lock(); h.running--; h.mu.Unlock() }()
	select {
	case <-release:
	case <-ctx.Done():
	}
	return nil, false, nil
}

func (h *holdInvoker) counts() (running, peak int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running, h.peak
}

// Without ScalingConfig a mapping starts with five pollers and, while its
// batches come back full, adds pollers (batches in flight) up to
// DefaultQueueMaxConcurrency, never beyond.
func TestQueueSourceGrowsWithTheBacklog(t *testing.T) {
	q := &fullQueue{size: 10}
	q.backlog.Store(10_000)
	inv := &holdInvoker{release: make(chan struct{})}
	src := QueueSource{QueueName: "orders", Mapping: model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"),
		FunctionName: "f", BatchSize: 10}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, q, inv); close(done) }()
	defer func() { cancel(); close(inv.release); <-done }()

	pollUntil(t, "the pollers grown to the cap", func() bool { r, _ := inv.counts(); return r == DefaultQueueMaxConcurrency })
	time.Sleep(3 * growEvery) // room to overshoot, if it would
	if _, peak := inv.counts(); peak != DefaultQueueMaxConcurrency {
		t.Fatalf("%d batches ran at once, want at most DefaultQueueMaxConcurrency (%d)", peak, DefaultQueueMaxConcurrency)
	}
}

// With ScalingConfig the mapping runs exactly MaximumConcurrency batches
// at once, however long the backlog.
func TestQueueSourceKeepsMaximumConcurrency(t *testing.T) {
	q := &fullQueue{size: 10}
	q.backlog.Store(10_000)
	inv := &holdInvoker{release: make(chan struct{})}
	src := QueueSource{QueueName: "orders", Mapping: model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"),
		FunctionName: "f", BatchSize: 10, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: 7}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, q, inv); close(done) }()
	defer func() { cancel(); close(inv.release); <-done }()

	pollUntil(t, "seven batches running", func() bool { r, _ := inv.counts(); return r == 7 })
	time.Sleep(10 * growEvery)
	if _, peak := inv.counts(); peak != 7 {
		t.Fatalf("%d batches ran at once, want MaximumConcurrency (7)", peak)
	}
}

// The pollers beyond the base stop when the queue runs dry or the
// function refuses batches (throttled): the count goes back to the base,
// never below it.
func TestPollersShrinkToTheBase(t *testing.T) {
	var started atomic.Int64
	p := &pollers{base: 5, most: 50, n: 5, start: func() { started.Add(1) }}
	p.grow() // no full batch yet: no growth
	for range 100 {
		p.backlog()
		p.backlog()
		p.grow()
	}
	if p.count() != 50 || started.Load() != 45 {
		t.Fatalf("%d pollers (%d started), want 50 (45 started)", p.count(), started.Load())
	}
	stopped := 0
	for range 100 {
		if p.idle() {
			stopped++
		}
	}
	if p.count() != 5 || stopped != 45 {
		t.Fatalf("%d pollers after %d stopped, want 5 after 45", p.count(), stopped)
	}
	// One poller per grow however many full batches came.
	p.backlog()
	p.backlog()
	p.grow()
	p.grow()
	if p.count() != 6 {
		t.Fatalf("%d pollers after two full batches and two grows, want 6", p.count())
	}
}

// A grown mapping whose function starts refusing its batches (its
// reserved concurrency, no agent) falls back to the base pollers, and
// grows again once the function takes batches.
func TestQueueSourceShrinksWhenRefused(t *testing.T) {
	q := &fullQueue{size: 10}
	q.backlog.Store(1_000_000)
	inv := &holdInvoker{release: make(chan struct{})}
	var n atomic.Int64
	src := QueueSource{QueueName: "orders", Mapping: model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"),
		FunctionName: "f", BatchSize: 10}, onPollers: func(c int) { n.Store(int64(c)) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, q, inv); close(done) }()
	defer func() { cancel(); <-done }()
	pollUntil(t, "more than ten pollers", func() bool { return n.Load() > 10 })
	inv.refuse.Store(true)
	inv.mu.Lock()
	close(inv.release) // every running batch ends; the next ones are refused
	inv.mu.Unlock()
	pollUntil(t, "back to the five base pollers", func() bool { return n.Load() == DefaultQueueConcurrency })
	inv.refuse.Store(false)
	pollUntil(t, "grown again", func() bool { return n.Load() > DefaultQueueConcurrency })
}
