//go:build unix

package scheduler

import "syscall"

// cpuNanos is the CPU time (user + system) used by the process so far. The
// benchmarks report it next to wall time: on a shared, busy machine it is
// the steadier measure of the scheduler's own cost.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
