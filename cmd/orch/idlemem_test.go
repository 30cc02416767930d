package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

var sink [][]byte

// After a burst of allocation the server gives its free heap back to the
// OS when a tick sees the burst is over: the heap's free pages that
// were not returned fall to (almost) nothing, and RSS with them.
func TestIdleServerGivesMemoryBackAfterABurst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(300)) // as the server runs
	unreleased := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	// The burst's own bytes are what the watcher counts: the process's
	// total also holds whatever goroutines earlier tests in this binary
	// left winding down, which on a loaded machine can look busy for
	// longer than the deadline. A loaded machine may also allocate slowly
	// enough for a tick to look idle in the middle of the burst; what
	// counts is a return that starts after the burst's last byte, so each
	// return records the count it started at (the watcher calls free from
	// one goroutine, one call after the other).
	var burst, freedAt atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go returnMemoryWhenIdle(ctx, 200*time.Millisecond, 16<<20, burst.Load, func() {
		at := burst.Load()
		debug.FreeOSMemory()
		freedAt.Store(at)
	})

	// A burst: a large live heap (a backlog) built and dropped again and
	// again for a while, then nothing.
	start := time.Now()
	for {
		sink = nil
		if time.Since(start) >= time.Second {
			break
		}
		for range 64 {
			sink = append(sink, make([]byte, 1<<20))
			burst.Add(1 << 20)
		}
	}
	total := burst.Load()
	deadline := time.Now().Add(20 * time.Second)
	for freedAt.Load() != total {
		if time.Now().After(deadline) {
			t.Fatal("no memory returned within 20 s of the burst's end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if free := unreleased(); free > 32<<20 {
		t.Errorf("after the return, %d MiB of free heap is still held from the OS (want under 32 MiB)", free>>20)
	}
}
