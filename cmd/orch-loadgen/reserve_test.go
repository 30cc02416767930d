package main

import (
	"sync"
	"sync/atomic"
	"testing"
)

// --messages N: concurrent producers hand out the ids 1..N exactly once,
// in batches of at most --batch (the last one short), and then stop.
func TestReserveHandsOutExactlyTheLimit(t *testing.T) {
	const limit, batch, producers = 10_007, 10, 8
	var sent atomic.Uint64
	var mu sync.Mutex
	seen := map[uint64]bool{}
	short := 0
	var wg sync.WaitGroup
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first, k := reserve(&sent, batch, limit)
				if k == 0 {
					return
				}
				mu.Lock()
				if k < batch {
					short++
				}
				for id := first; id < first+uint64(k); id++ {
					if seen[id] {
						t.Errorf("id %d handed out twice", id)
					}
					seen[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != limit || !seen[1] || !seen[limit] || short != 1 {
		t.Fatalf("handed out %d ids (1: %v, %d: %v) with %d short batches; want exactly 1..%d and one short batch", len(seen), seen[1], limit, seen[limit], short, limit)
	}
	if _, k := reserve(&sent, batch, 0); k != batch {
		t.Fatalf("without a limit reserve handed out %d ids, want a full batch of %d", k, batch)
	}
}
