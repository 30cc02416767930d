package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// recorder commits into memory, holding each commit until released, so a
// test can queue writes while one is under way.
type recorder struct {
	mu      sync.Mutex
	txns    [][]int
	entered chan struct{} // one value per commit begun
	release chan struct{} // one value lets one commit end
}

func (r *recorder) commit(_ context.Context, ops []int) error {
	r.entered <- struct{}{}
	<-r.release
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txns = append(r.txns, slices.Clone(ops))
	if slices.Contains(ops, -1) {
		return errors.New("refused")
	}
	return nil
}

var errStopped = errors.New("stopped")

func newTest(maxOps int) (*Committer[int], *recorder) {
	r := &recorder{entered: make(chan struct{}, 1000), release: make(chan struct{}, 1000)}
	c := New(Options[int]{Commit: r.commit, Size: func(*int) int { return 1 }, MaxOps: maxOps, MaxBytes: 1 << 20,
		Stopped: func(cause error) error { return fmt.Errorf("%w: %v", errStopped, cause) }})
	return c, r
}

// TestGroupsWhileACommitIsUnderWay: writes queued during a commit go
// together in the next one (up to MaxOps), each caller's ops stay in one
// transaction, and every caller gets its transaction's error.
func TestGroupsWhileACommitIsUnderWay(t *testing.T) {
	c, r := newTest(5)
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, 1)
	defer func() { cancel(); c.Stop() }()

	first := make(chan error, 1)
	go func() { first <- c.Commit(ctx, 0) }()
	// Once the first commit is under way, queue three more requests.
	<-r.entered
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for _, ops := range [][]int{{1, 2}, {3, 4}, {-1, 5}} {
		wg.Go(func() { errs <- c.Commit(ctx, ops...) })
	}
	for len(c.reqs) != 3 {
		runtime.Gosched()
	}
	for range 3 {
		r.release <- struct{}{}
	}
	if err := <-first; err != nil {
		t.Fatalf("first commit: %v", err)
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.txns) != 3 || len(r.txns[1]) != 4 || len(r.txns[2]) != 2 {
		t.Fatalf("transactions = %v, want 3: [0], then two of the queued requests (4 ops, MaxOps 5), then the third", r.txns)
	}
	// The request with -1 fails, and so does the one that shared its transaction, if any.
	if failed == 0 {
		t.Fatal("no caller saw the refused transaction's error")
	}
}

// TestStopFailsQueuedWrites: after Stop, Commit fails at once.
func TestStopFailsQueuedWrites(t *testing.T) {
	c, r := newTest(10)
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, 2)
	r.release <- struct{}{}
	if err := c.Commit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	c.Stop()
	if err := c.Commit(context.Background(), 2); !errors.Is(err, errStopped) {
		t.Fatalf("Commit after Stop = %v, want the Stopped error", err)
	}
}

func TestLastWins(t *testing.T) {
	type op struct{ k, v string }
	key := func(o *op) string { return o.k }
	tests := []struct {
		in, want []op
	}{
		{nil, nil},
		{[]op{{"a", "1"}, {"b", "1"}}, []op{{"a", "1"}, {"b", "1"}}},
		{[]op{{"a", "1"}, {"b", "1"}, {"a", "2"}}, []op{{"b", "1"}, {"a", "2"}}},
	}
	for _, tc := range tests {
		if got := LastWins(tc.in, key); !slices.Equal(got, tc.want) {
			t.Errorf("LastWins(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSubmitKeepsOrder: Submit returns before the commit, and with one
// pipeline a write submitted after it never lands in an earlier
// transaction (the queues make a message receivable between the two).
func TestSubmitKeepsOrder(t *testing.T) {
	c, r := newTest(2)
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, 1)
	defer func() { cancel(); c.Stop() }()

	// Hold a commit under way, so the next writes queue behind it.
	first := make(chan error, 1)
	go func() { first <- c.Commit(ctx, 0) }()
	<-r.entered
	waits := []func() error{c.Submit(ctx, 1), c.Submit(ctx, 2), c.Submit(ctx, 3)}
	for range 3 {
		r.release <- struct{}{}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, w := range waits {
		if err := w(); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var got []int
	for _, txn := range r.txns {
		got = append(got, txn...)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("committed in the order %v (transactions %v), want 0 1 2 3", got, r.txns)
	}
	if w := c.Submit(ctx); w() != nil {
		t.Error("an empty Submit should succeed")
	}
}
