package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestStressFaultsEveryWaitReturns: many writers, some committing at once
// and some submitting several writes and waiting for them later in any
// order, against a commit that sometimes fails, sometimes panics (on the
// leading caller's goroutine, recovered as net/http would) and sometimes
// yields mid-commit, with the owner's context ended and Stop called at a
// random moment. Every wait must return before a deadline; a write
// reported committed was committed exactly once, a failed one never; with
// one pipeline each writer's writes land in the order it submitted them.
func TestStressFaultsEveryWaitReturns(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		stressRound(t, round)
		if t.Failed() {
			return
		}
	}
}

func stressRound(t *testing.T, round int) {
	rng := rand.New(rand.NewPCG(uint64(round), 7))
	pipelines := 1 + rng.IntN(3)
	maxOps := 1 + rng.IntN(8)
	var mu sync.Mutex
	committed := map[int]int{}
	var order []int
	errRefused := errors.New("refused")
	var seed sync.Mutex
	crng := rand.New(rand.NewPCG(uint64(round), 9))
	c := New(Options[int]{Commit: func(_ context.Context, ops []int) error {
		seed.Lock()
		p := crng.IntN(100)
		seed.Unlock()
		switch {
		case p < 3:
			panic("commit blew up")
		case p < 8:
			return errRefused
		case p < 30:
			runtime.Gosched()
		}
		mu.Lock()
		defer mu.Unlock()
		for _, op := range ops {
			committed[op]++
		}
		order = append(order, ops...)
		return nil
	}, Size: func(*int) int { return 1 }, MaxOps: maxOps, MaxBytes: 1 << 20,
		Stopped: func(cause error) error { return fmt.Errorf("%w: %v", errStopped, cause) }})
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, pipelines)

	const writers, each = 12, 60
	type outcome struct {
		op       int
		err      error
		panicked bool
	}
	results := make(chan outcome, writers*each)
	waitOne := func(op int, w func() error) {
		defer func() {
			if p := recover(); p != nil {
				results <- outcome{op: op, panicked: true}
			}
		}()
		results <- outcome{op: op, err: w()}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wrng := rand.New(rand.NewPCG(uint64(round), uint64(100+w)))
		wg.Go(func() {
			for i := 0; i < each; {
				if wrng.IntN(2) == 0 {
					op := w*1000 + i
					i++
					waitOne(op, func() error { return c.Commit(ctx, op) })
					continue
				}
				// Submit a few, then wait for them in a random order.
				k := min(each-i, 1+wrng.IntN(4))
				ops := make([]int, k)
				waits := make([]func() error, k)
				for j := range k {
					ops[j] = w*1000 + i
					i++
					waits[j] = c.Submit(ctx, ops[j])
				}
				for _, j := range wrng.Perm(k) {
					waitOne(ops[j], waits[j])
				}
			}
		})
	}
	stopAfter := time.Duration(rng.IntN(40000)) * time.Microsecond
	stopped := make(chan struct{})
	go func() {
		time.Sleep(stopAfter)
		cancel()
		c.Stop()
		close(stopped)
	}()
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("round %d (pipelines %d, MaxOps %d): writers still waiting after 20 s:\n%s", round, pipelines, maxOps, buf[:runtime.Stack(buf, true)])
	}
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatalf("round %d: Stop did not return", round)
	}
	close(results)
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for r := range results {
		n++
		got := committed[r.op]
		switch {
		case got > 1:
			t.Errorf("round %d: write %d committed %d times", round, r.op, got)
		case r.panicked:
		case r.err == nil && got != 1:
			t.Errorf("round %d: write %d reported committed but is not", round, r.op)
		case r.err != nil && got != 0:
			t.Errorf("round %d: write %d failed (%v) but was committed", round, r.op, r.err)
		case r.err != nil && !errors.Is(r.err, errRefused) && !errors.Is(r.err, errStopped) && !errors.Is(r.err, errCommitPanicked):
			t.Errorf("round %d: write %d: unexpected error %v", round, r.op, r.err)
		}
	}
	ok, failed := 0, 0
	for _, v := range committed {
		ok += v
	}
	failed = n - ok
	t.Logf("round %d: pipelines %d, MaxOps %d, Stop after %v: %d writes committed, %d not", round, pipelines, maxOps, stopAfter, ok, failed)
	if n != writers*each {
		t.Errorf("round %d: %d outcomes, want %d", round, n, writers*each)
	}
	if pipelines == 1 {
		last := map[int]int{}
		for _, op := range order {
			w := op / 1000
			if prev, ok := last[w]; ok && op < prev {
				t.Errorf("round %d: writer %d's write %d committed after its later write %d", round, w, op%1000, prev%1000)
			}
			last[w] = op
		}
	}
}
