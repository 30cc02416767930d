package main

import (
	"context"
	"runtime/metrics"
	"time"
)

// Idle memory return (docs/operations.md, "Memory"). The server runs with
// GOGC=300, so under load the heap may grow to four times the live heap
// (a queue's backlog is live). When the load stops, nothing allocates, so
// no GC runs until the runtime forces one (every 2 minutes), and the
// garbage keeps its pages in RSS until then and the scavenger after it.
// returnMemoryWhenIdle watches the bytes allocated per tick: the first
// quiet tick after a busy one means a burst is over, and one
// debug.FreeOSMemory (a GC, then every free page returned) brings RSS down
// to about the live heap. That is one GC per burst; nothing while busy,
// nothing while idle.
const (
	idleTick = 15 * time.Second
	// idleBusyBytes allocated in a tick mean busy (a million-message run
	// allocates gigabytes a minute; an idle server, a few MiB).
	idleBusyBytes = 64 << 20
)

// heapAllocated is the process's cumulative heap allocation in bytes.
func heapAllocated() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// returnMemoryWhenIdle runs until ctx ends, calling free after each burst
// of allocation (allocated grows by more than busy bytes in a tick) once a
// tick sees less. The server passes heapAllocated.
func returnMemoryWhenIdle(ctx context.Context, tick time.Duration, busy uint64, allocated func() uint64, free func()) {
	last, wasBusy := allocated(), false
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := allocated()
		if now-last > busy {
			wasBusy = true
		} else if wasBusy {
			wasBusy = false
			free()
		}
		last = now
	}
}
