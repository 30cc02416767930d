//go:build unix

package filter

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used. On a
// machine shared with other work, CPU time per op stays close to the
// work done where wall time stretches with the wait for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
