package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// With ORCH_BENCH_PPROF=dir, benchmarks that support it (BenchmarkHollowAgents)
// start the server with --debug-listen and save a CPU profile of its
// measured window (cpu.pprof, ORCH_BENCH_PPROF_SECONDS long, default 60:
// pprof cannot stop a profile early, so the benchmark waits for it) and
// an allocation profile (allocs.pprof) to dir. Read them with
// `go tool pprof -top -cum dir/cpu.pprof`.

// pprofArgs returns the server's debug address and the flags that serve
// it, or "" and none when profiling is off.
func pprofArgs(b *testing.B) (string, []string) {
	if os.Getenv("ORCH_BENCH_PPROF") == "" {
		return "", nil
	}
	addr := freeAddr(b)
	return addr, []string{"--debug-listen", addr}
}

// startPprof starts the CPU profile of the server at addr; the returned
// func waits for it and saves the allocation profile.
func startPprof(b *testing.B, addr string) func() {
	if addr == "" {
		return func() {}
	}
	dir := os.Getenv("ORCH_BENCH_PPROF")
	secs, err := strconv.Atoi(os.Getenv("ORCH_BENCH_PPROF_SECONDS"))
	if err != nil || secs <= 0 {
		secs = 60
	}
	save := func(path, file string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			b.Errorf("profile %s: %v", path, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			b.Error(err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			b.Errorf("profile %s: %v", path, err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		save(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), "cpu.pprof")
	}()
	return func() {
		<-done
		save("/debug/pprof/allocs", "allocs.pprof")
		b.Logf("server profiles in %s (cpu.pprof over %d s, allocs.pprof)", dir, secs)
	}
}
