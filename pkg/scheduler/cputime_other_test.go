//go:build !unix

package scheduler

func cpuNanos() int64 { return 0 }
