package function

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// scriptedQueue hands out batches of one message each, records deletes and
// returns (visibility 0), and can hold deletes until released.
type scriptedQueue struct {
	mu       sync.Mutex
	received int
	deleted  []string
	returned []string
	entered  int           // DeleteMessageBatch calls begun (held ones too)
	holdDel  chan struct{} // nil: deletes pass; else each takes a token
}

func (q *scriptedQueue) ReceiveMessage(ctx context.Context, name string, in queue.ReceiveInput) ([]queue.ReceivedMessage, error) {
	q.mu.Lock()
	q.received++
	n := q.received
	q.mu.Unlock()
	id := fmt.Sprintf("m%d", n)
	return []queue.ReceivedMessage{{MessageID: id, ReceiptHandle: "h-" + id, Body: `{"n":1}`}}, nil
}

func (q *scriptedQueue) DeleteMessageBatch(ctx context.Context, name string, es []queue.BatchHandle) ([]string, []queue.BatchError, error) {
	q.mu.Lock()
	q.entered++
	q.mu.Unlock()
	if q.holdDel != nil {
		<-q.holdDel
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var ok []string
	for _, e := range es {
		q.deleted = append(q.deleted, e.Handle)
		ok = append(ok, e.ID)
	}
	return ok, nil, nil
}

func (q *scriptedQueue) ChangeMessageVisibilityBatch(ctx context.Context, name string, es []queue.BatchHandle) ([]string, []queue.BatchError, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range es {
		if e.VisibilityTimeout == 0 {
			q.returned = append(q.returned, e.Handle)
		}
	}
	return nil, nil, nil
}

func (q *scriptedQueue) snapshot() (received int, deleted, returned []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.received, append([]string(nil), q.deleted...), append([]string(nil), q.returned...)
}

// gateInvoker blocks each invocation until the test lets it finish.
type gateInvoker struct {
	started chan string
	finish  chan struct{}
}

func (g gateInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, bool, error) {
	g.started <- string(payload)
	select {
	case <-g.finish:
		return nil, false, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// One poller receives its next batch while the function runs the current
// one, runs the next batch while the previous batch's delete is still on
// its way, and on stop gives back the batch it received ahead (visible at
// once instead of after the visibility timeout).
func TestQueueSourcePipelines(t *testing.T) {
	q := &scriptedQueue{holdDel: make(chan struct{})}
	inv := gateInvoker{started: make(chan string, 4), finish: make(chan struct{})}
	one := 1
	src := QueueSource{QueueName: "orders", Mapping: model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"),
		FunctionName: "f", BatchSize: 1, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: one}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, q, inv); close(done) }()

	<-inv.started // batch 1 runs
	pollUntil(t, "the next batch received while the first runs", func() bool { r, _, _ := q.snapshot(); return r >= 2 })
	inv.finish <- struct{}{} // batch 1 done; its delete is held
	select {
	case <-inv.started: // batch 2 runs although batch 1's delete has not finished
	case <-time.After(10 * time.Second):
		t.Fatal("the second batch waited for the first batch's delete")
	}
	close(q.holdDel)
	pollUntil(t, "the first batch deleted", func() bool { _, d, _ := q.snapshot(); return len(d) == 1 && d[0] == "h-m1" })
	pollUntil(t, "the third batch received ahead", func() bool { r, _, _ := q.snapshot(); return r >= 3 })

	cancel() // batch 2 ends with the context; batch 3 was never run
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	_, deleted, returned := q.snapshot()
	if len(deleted) != 1 {
		t.Fatalf("deleted %v, want only the batch that ran to completion", deleted)
	}
	if len(returned) != 1 || returned[0] != "h-m3" {
		t.Fatalf("given back %v, want the batch received ahead (h-m3)", returned)
	}
}

// Slow deletes (a busy disk) do not hold a poller back: it runs batch
// after batch while deletesPerPoller of its deletes are on their way, and
// only then waits for one of them, so a stuck store does not pile up work.
func TestQueueSourceRunsAheadOfSlowDeletes(t *testing.T) {
	q := &scriptedQueue{holdDel: make(chan struct{})}
	inv := gateInvoker{started: make(chan string, 8), finish: make(chan struct{})}
	src := QueueSource{QueueName: "orders", Mapping: model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"),
		FunctionName: "f", BatchSize: 1, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: 1}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, q, inv); close(done) }()
	defer func() { cancel(); close(q.holdDel); <-done }()

	for i := range deletesPerPoller + 1 {
		select {
		case <-inv.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d did not start while %d deletes were held", i+1, i)
		}
		inv.finish <- struct{}{}
	}
	pollUntil(t, "the held deletes", func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.entered == deletesPerPoller })
	// The next batch's delete has no room: the poller waits for one.
	select {
	case <-inv.started:
		t.Fatalf("a batch started with %d deletes in flight and one more waiting, want the poller to wait", deletesPerPoller)
	case <-time.After(100 * time.Millisecond):
	}
	q.holdDel <- struct{}{} // one delete ends
	select {
	case <-inv.started: // and the poller goes on
	case <-time.After(10 * time.Second):
		t.Fatal("the poller did not go on after a delete ended")
	}
	inv.finish <- struct{}{}
}

// A partial batch means the queue keeps up: the poller does not receive
// ahead (that batch would wait behind the running one while another poller
// could run it), it receives after the function returns.
func TestQueueSourceReceivesAheadOnlyWithABacklog(t *testing.T) {
	q := &scriptedQueue{} // one message per receive
	inv := gateInvoker{started: make(chan string, 4), finish: make(chan struct{})}
	src := QueueSource{QueueName: "orders", Mapping: model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"),
		FunctionName: "f", BatchSize: 2, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: 1}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, q, inv); close(done) }()
	defer func() { cancel(); <-done }()

	<-inv.started
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if r, _, _ := q.snapshot(); r != 1 {
			t.Fatalf("%d receives while a partial batch runs, want 1 (no receive ahead)", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	inv.finish <- struct{}{}
	select {
	case <-inv.started: // received and run after the first returned
	case <-time.After(10 * time.Second):
		t.Fatal("no second batch after the first returned")
	}
	if r, _, _ := q.snapshot(); r != 2 {
		t.Fatalf("%d receives, want 2", r)
	}
}
