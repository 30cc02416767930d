package main

import (
	"runtime/debug"
	"testing"
)

// TestServerMemoryDefaults: without GOMEMLIMIT the server runs with a
// 1 GiB soft limit (an idle server gives memory back); with it, the
// environment's value stands.
func TestServerMemoryDefaults(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	setMemoryDefaults()
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("memory limit without GOMEMLIMIT = %d, want %d (1 GiB)", got, 1<<30)
	}

	debug.SetMemoryLimit(3 << 30) // what the runtime read from GOMEMLIMIT=3GiB
	t.Setenv("GOMEMLIMIT", "3GiB")
	setMemoryDefaults()
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Fatalf("memory limit with GOMEMLIMIT=3GiB = %d, want it left at %d", got, 3<<30)
	}
}
