package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// resultsCP records results as a server would receive them: in batches
// (unless noBatches: an older server), failing the first failFirst batch
// requests.
type resultsCP struct {
	noBatches bool
	failFirst int

	mu      sync.Mutex
	batches [][]string
	singles []string
	calls   int
}

func (cp *resultsCP) Invocations(ctx context.Context, node string) (<-chan wire.InvocationEvent, <-chan error) {
	return nil, nil
}

func (cp *resultsCP) InvocationResult(ctx context.Context, node, id string, res wire.InvocationResult) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.singles = append(cp.singles, id)
	return nil
}

func (cp *resultsCP) InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.calls++
	if cp.noBatches {
		return fmt.Errorf("%w: 404", client.ErrNoResultBatches)
	}
	if cp.calls <= cp.failFirst {
		return errors.New("connection reset")
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.RequestID)
	}
	cp.batches = append(cp.batches, ids)
	return nil
}

// delivered is every id the server got, once each or the test fails.
func (cp *resultsCP) delivered(t *testing.T) map[string]bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range cp.singles {
		if seen[id] {
			t.Fatalf("result %s delivered twice", id)
		}
		seen[id] = true
	}
	for _, b := range cp.batches {
		for _, id := range b {
			if seen[id] {
				t.Fatalf("result %s delivered twice", id)
			}
			seen[id] = true
		}
	}
	return seen
}

func sendResults(t *testing.T, cp FunctionControlPlane, n int) {
	t.Helper()
	a := &Agent{node: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs := newResultSender(a, cp)
	// Results pile up before the senders start: they leave in batches.
	for i := range n {
		rs.send(context.Background(), "f", wire.InvocationResult{RequestID: fmt.Sprintf("r%d", i), Payload: []byte(`{}`)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rs.run(ctx, nil, nil); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc, _ := cp.(*resultsCP)
		if len(rc.delivered(t)) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d results delivered", len(rc.delivered(t)), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestResultsTravelInBatches(t *testing.T) {
	cp := &resultsCP{failFirst: 1} // the first request fails: it is retried
	sendResults(t, cp, 600)
	if len(cp.singles) != 0 {
		t.Fatalf("%d results went one by one to a server that takes batches", len(cp.singles))
	}
	// 600 queued results: at most 256 a batch, so at least 3 requests and
	// far fewer than 600.
	if len(cp.batches) < 3 || len(cp.batches) > 20 {
		t.Fatalf("%d batches for 600 queued results, want a few of up to 256", len(cp.batches))
	}
	for _, b := range cp.batches {
		if len(b) > maxBatchResults {
			t.Fatalf("a batch of %d results, the limit is %d", len(b), maxBatchResults)
		}
	}
}

func TestResultsGoOneByOneToAServerWithoutBatches(t *testing.T) {
	cp := &resultsCP{noBatches: true}
	sendResults(t, cp, 50)
	if len(cp.singles) != 50 || cp.calls > 2 {
		t.Fatalf("%d results one by one after %d batch attempts, want all 50 after at most one attempt per sender (two: small and bulk)", len(cp.singles), cp.calls)
	}
}

// A stopping agent keeps retrying a batch the server refuses past the
// tries of a running one, then its senders say when the queue is empty.
func TestStoppingAgentRetriesResultsUntilTaken(t *testing.T) {
	cp := &resultsCP{failFirst: 3*resultAttempts + 1}
	a := &Agent{node: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs := newResultSender(a, cp)
	rs.draining.Store(true)
	for i := range 10 {
		rs.send(context.Background(), "f", wire.InvocationResult{RequestID: fmt.Sprintf("r%d", i)})
	}
	flushed := make(chan struct{})
	close(flushed)
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	done := make(chan struct{})
	go func() { rs.run(ctx, flushed, func() { close(drained) }); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-drained: // once everything is posted
	case <-time.After(60 * time.Second):
		t.Fatal("the senders did not report their queues empty within 60 s")
	}
	if got := cp.delivered(t); len(got) != 10 {
		t.Fatalf("%d of 10 results delivered after %d refused posts", len(got), cp.failFirst)
	}
}

// blockingCP holds every batch carrying a result of bulkResult bytes or
// more until release is closed, and records the small ones.
type blockingCP struct {
	resultsCP
	release chan struct{}
	bulkIn  chan struct{} // closed when a bulk batch is being posted
	once    sync.Once
}

func (cp *blockingCP) InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error {
	for _, r := range rs {
		if len(r.Payload) >= bulkResult {
			cp.once.Do(func() { close(cp.bulkIn) })
			select {
			case <-cp.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			break
		}
	}
	return cp.resultsCP.InvocationResults(ctx, node, rs)
}

// A large result's post in flight does not hold up the small results
// finishing meanwhile: they have their own sender.
func TestSmallResultsPassALargeOnesPost(t *testing.T) {
	cp := &blockingCP{release: make(chan struct{}), bulkIn: make(chan struct{})}
	a := &Agent{node: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs := newResultSender(a, cp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { rs.run(ctx, nil, nil); close(done) }()
	defer func() { cancel(); <-done }()
	rs.send(ctx, "f", wire.InvocationResult{RequestID: "big", Payload: make([]byte, bulkResult)})
	select {
	case <-cp.bulkIn:
	case <-time.After(10 * time.Second):
		t.Fatal("the large result was not posted")
	}
	for i := range 5 {
		rs.send(ctx, "f", wire.InvocationResult{RequestID: fmt.Sprintf("small%d", i), Payload: []byte(`{}`)})
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(cp.delivered(t)) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 small results delivered while the large one's post was held", len(cp.delivered(t)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := cp.delivered(t); got["big"] {
		t.Fatal("the large result was delivered before its post was released")
	}
	close(cp.release)
	deadline = time.Now().Add(10 * time.Second)
	for !cp.delivered(t)["big"] {
		if time.Now().After(deadline) {
			t.Fatal("the large result was not delivered once released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A result that comes once the drain has flushed every invocation's (the
// refusal of an invocation an open stream still brings: the streams stay
// open until every server took its results, or FlushTimeout) is posted
// while the senders' context lasts, not left in the queue: else its
// caller waits for the stream to close and gets an error, instead of
// being placed on another agent.
func TestResultsAfterTheFlushArePosted(t *testing.T) {
	cp := &resultsCP{}
	a := &Agent{node: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs := newResultSender(a, cp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	flushed := make(chan struct{})
	close(flushed)
	drained := make(chan struct{})
	done := make(chan struct{})
	go func() { rs.run(ctx, flushed, func() { close(drained) }); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the senders did not report their queues empty")
	}
	rs.send(ctx, "f", wire.InvocationResult{RequestID: "late", ErrorKind: wire.InvokeErrStopping})
	deadline := time.Now().Add(10 * time.Second)
	for !cp.delivered(t)["late"] {
		if time.Now().After(deadline) {
			t.Fatal("a result sent after the flush was not posted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hangingCP takes the connection of its first batch request and never
// answers it (a connection that died without a reset); later ones work.
type hangingCP struct {
	resultsCP
	first sync.Once
}

func (cp *hangingCP) InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error {
	hang := false
	cp.first.Do(func() { hang = true })
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return cp.resultsCP.InvocationResults(ctx, node, rs)
}

// A post that never answers is given up after resultPostTimeout and its
// results go in the next try, instead of holding up every result behind
// the one sender for the client's whole timeout.
func TestAStuckResultPostIsRetried(t *testing.T) {
	old := resultPostTimeout
	resultPostTimeout = 200 * time.Millisecond
	defer func() { resultPostTimeout = old }()
	cp := &hangingCP{}
	a := &Agent{node: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs := newResultSender(a, cp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rs.run(ctx, nil, nil); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 5 {
		rs.send(ctx, "f", wire.InvocationResult{RequestID: fmt.Sprintf("r%d", i), Payload: []byte(`{}`)})
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(cp.delivered(t)) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 results delivered 15 s after the first post hung", len(cp.delivered(t)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
