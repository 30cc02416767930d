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
	for c.waitingQueued() != 3 {
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

// waitingQueued counts the queued requests whose callers wait.
func (c *Committer[Op]) waitingQueued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.queued {
		if r.waiting {
			n++
		}
	}
	return n
}

// TestManyWritersEachCommittedOnce: with many concurrent writers every
// write is committed exactly once and each writer's writes land in the
// order it made them (one pipeline), whoever leads the commits.
func TestManyWritersEachCommittedOnce(t *testing.T) {
	var mu sync.Mutex
	var got []int
	commits := 0
	c := New(Options[int]{Commit: func(_ context.Context, ops []int) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ops...)
		commits++
		return nil
	}, Size: func(*int) int { return 1 }, MaxOps: 7, MaxBytes: 1 << 20,
		Stopped: func(cause error) error { return fmt.Errorf("%w: %v", errStopped, cause) }})
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, 1)
	defer func() { cancel(); c.Stop() }()
	const writers, each = 16, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := c.Commit(ctx, w*each+i); err != nil {
					t.Errorf("writer %d write %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != writers*each {
		t.Fatalf("committed %d writes, want %d", len(got), writers*each)
	}
	last := make([]int, writers)
	for w := range last {
		last[w] = -1
	}
	for _, v := range got {
		w, i := v/each, v%each
		if i != last[w]+1 {
			t.Fatalf("writer %d: write %d committed after %d (want each once, in order)", w, i, last[w])
		}
		last[w] = i
	}
	if commits >= writers*each {
		t.Logf("no grouping happened (%d commits for %d writes)", commits, len(got))
	}
}

// TestCrossedWaitsDoNotDeadlock: two callers each submit to two
// committers and wait for them in opposite orders (the queues' batch send
// submits to several shards, then waits for each in turn). The lead is
// only ever handed to a caller that waits, so both finish.
func TestCrossedWaitsDoNotDeadlock(t *testing.T) {
	a, ra := newTest(1)
	b, rb := newTest(1)
	ctx, cancel := context.WithCancel(context.Background())
	a.Start(ctx, 1)
	b.Start(ctx, 1)
	defer func() { cancel(); a.Stop(); b.Stop() }()
	// Hold a commit under way on each, so the crossed writes queue.
	held := make(chan error, 2)
	go func() { held <- a.Commit(ctx, 100) }()
	go func() { held <- b.Commit(ctx, 200) }()
	<-ra.entered
	<-rb.entered
	wa1, wb1 := a.Submit(ctx, 1), b.Submit(ctx, 1)
	wa2, wb2 := a.Submit(ctx, 2), b.Submit(ctx, 2)
	done := make(chan error, 2)
	go func() { done <- errors.Join(wa1(), wb1()) }()
	go func() { done <- errors.Join(wb2(), wa2()) }()
	for range 3 {
		ra.release <- struct{}{}
		rb.release <- struct{}{}
	}
	for range 2 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPanickingCommitFailsItsBatch: a commit that panics (on a caller's
// goroutine, which net/http may recover) fails its writes and does not
// stop later commits.
func TestPanickingCommitFailsItsBatch(t *testing.T) {
	c := New(Options[int]{Commit: func(_ context.Context, ops []int) error {
		if ops[0] < 0 {
			panic("bad op")
		}
		return nil
	}, Size: func(*int) int { return 1 }, MaxOps: 1, MaxBytes: 1 << 20,
		Stopped: func(cause error) error { return fmt.Errorf("%w: %v", errStopped, cause) }})
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, 1)
	defer func() { cancel(); c.Stop() }()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the commit's panic did not reach its leader")
			}
		}()
		_ = c.Commit(ctx, -1)
	}()
	if err := c.Commit(ctx, 1); err != nil {
		t.Fatalf("commit after a panicked one: %v", err)
	}
}
