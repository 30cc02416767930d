package functions

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/lambdart"
)

// Benchmarks of the agent's function path on real Docker with the
// aws-lambda-go image (make bench-functions). They measure the pool and the
// Runtime API; the server's Lambda endpoint is not in this path yet.

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := len(d) * p / 100
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}

// settle waits until at most one container matches the label filters
// (the function's current environment): the environments a configuration
// change retired are stopped once the new one has answered, and their
// teardown on Docker would otherwise run beside the docker run baseline
// measured next. Both sides of a cold-start benchmark then start with
// nothing else of theirs on Docker.
func settle(b *testing.B, filters ...string) {
	b.Helper()
	args := []string{"ps", "-aq"}
	for _, f := range filters {
		args = append(args, "--filter", "label="+f)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			b.Fatalf("docker ps: %v", err)
		}
		n := len(strings.Fields(string(out)))
		if n <= 1 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d containers still match %v after 15 s: the retired environments were not stopped", n, filters)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkWarmInvoke: one caller, a no-op handler ({"echo":1}) in a warm
// container; reports the latency of a whole invocation (an upper bound on
// the platform's overhead, since the handler's own time is ~0).
func BenchmarkWarmInvoke(b *testing.B) {
	name := fmt.Sprintf("bench-warm-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(b, lambdart.PoolConfig{PerEnvironment: 1}, lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 5 * time.Second})
	ctx := context.Background()
	if _, err := p.Invoke(ctx, name, "", []byte(`{"echo":1}`)); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		r, err := p.Invoke(ctx, name, "", []byte(`{"echo":1}`))
		if err != nil || r.FunctionError != "" {
			b.Fatalf("%v %s", err, r.Payload)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
}

// BenchmarkThroughputC16: 16 concurrent callers, no-op handler, 16
// invocations per environment (AWS_LAMBDA_MAX_CONCURRENCY) in one warm
// container.
func BenchmarkThroughputC16(b *testing.B) {
	name := fmt.Sprintf("bench-c16-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(b, lambdart.PoolConfig{PerEnvironment: 16}, lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 5 * time.Second})
	ctx := context.Background()
	if _, err := p.Invoke(ctx, name, "", []byte(`{"echo":1}`)); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/16+1)
			for range work {
				t0 := time.Now()
				r, err := p.Invoke(ctx, name, "", []byte(`{"echo":1}`))
				if err != nil || r.FunctionError != "" {
					b.Errorf("%v %s", err, r.Payload)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "invokes/s")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
}

// BenchmarkColdStart: from zero environments to the first response, beside
// the baseline `docker run --rm` of the same image to its first output
// (without AWS_LAMBDA_RUNTIME_API the handler prints why and exits), in the
// same run, alternating; each docker run waits for the retired
// environment's container to be gone (settle).
func BenchmarkColdStart(b *testing.B) {
	name := fmt.Sprintf("bench-cold-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(b, lambdart.PoolConfig{}, lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 5 * time.Second})
	ctx := context.Background()
	var cold, run []time.Duration
	b.ResetTimer()
	for i := range b.N {
		p.Put(lambdart.Function{Name: name, Image: image, MemoryMiB: 128, Timeout: 5 * time.Second}) // stops the warm one
		t0 := time.Now()
		r, err := p.Invoke(ctx, name, "", []byte(`{"echo":1}`))
		if err != nil || r.FunctionError != "" {
			b.Fatalf("%v %s", err, r.Payload)
		}
		cold = append(cold, time.Since(t0))
		settle(b, "orch.function="+name)

		cname := fmt.Sprintf("%s-run-%d", name, i)
		t0 = time.Now()
		cmd := exec.Command("docker", "run", "--rm", "--name", cname, image)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadByte(); err != nil {
			b.Fatalf("docker run printed nothing: %v", err)
		}
		run = append(run, time.Since(t0))
		_ = cmd.Wait()
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(cold, 50)), "cold-p50-ms")
	b.ReportMetric(ms(pct(cold, 99)), "cold-p99-ms")
	b.ReportMetric(ms(pct(run, 50)), "dockerrun-p50-ms")
	b.ReportMetric(ms(pct(run, 99)), "dockerrun-p99-ms")
}
