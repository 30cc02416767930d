package functions

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/lambdart"
)

// BenchmarkIdleEnvironmentsDockerdCPU is what idle function environments
// cost the Docker daemon: it starts ORCH_BENCH_IDLE_ENVS environments
// (default 20) of one function, leaves them idle and reports the CPU
// dockerd used over ORCH_BENCH_IDLE_WINDOW (default 30 s), from
// /proc/PID/stat (user+system ticks), as ms of CPU per second. Other work
// on the same daemon counts too: compare builds interleaved in one run.
//
//	go test -run '^$' -bench BenchmarkIdleEnvironmentsDockerdCPU -benchtime 1x ./test/functions/
func BenchmarkIdleEnvironmentsDockerdCPU(b *testing.B) {
	n, window := 20, 30*time.Second
	if v, err := strconv.Atoi(os.Getenv("ORCH_BENCH_IDLE_ENVS")); err == nil && v > 0 {
		n = v
	}
	if v, err := time.ParseDuration(os.Getenv("ORCH_BENCH_IDLE_WINDOW")); err == nil && v > 0 {
		window = v
	}
	out, err := exec.Command("pidof", "dockerd").Output()
	pids := strings.Fields(string(out))
	if err != nil || len(pids) != 1 {
		b.Fatalf("pidof dockerd: %q %v: want one dockerd on this host", out, err)
	}
	name := fmt.Sprintf("idle-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(b, lambdart.PoolConfig{IdleTimeout: 10 * time.Minute, PerEnvironment: 1, MaxEnvironments: n},
		lambdart.Function{Name: name, MemoryMiB: 64, Timeout: 60 * time.Second})
	// n overlapping invocations: one environment each.
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := p.Invoke(context.Background(), name, "", []byte(`{"sleepMs":2000}`)); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if got := p.Environments(name); got != n {
		b.Fatalf("%d environments, want %d", got, n)
	}
	for b.Loop() {
		time.Sleep(2 * time.Second) // the start's own work settles
		before := cpuTicks(b, pids[0])
		start := time.Now()
		time.Sleep(window)
		used := float64(cpuTicks(b, pids[0])-before) * 10 // ms at 100 ticks/s
		b.ReportMetric(used/time.Since(start).Seconds(), "dockerd-cpu-ms/s")
	}
	b.ReportMetric(float64(n), "environments")
}

// cpuTicks is a process's user+system CPU time in clock ticks (1/100 s).
func cpuTicks(b *testing.B, pid string) int64 {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}
