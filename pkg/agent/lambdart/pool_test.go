package lambdart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestPool(t *testing.T, cfg PoolConfig, fn Function) (*Pool, *[]Report) {
	t.Helper()
	var mu sync.Mutex
	var reports []Report
	cfg.Launcher = ProcessLauncher{}
	cfg.Report = func(r Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }
	p := NewPool(cfg)
	t.Cleanup(p.Close)
	if fn.Image == "" {
		fn.Image = handlerBin
	}
	p.Put(fn)
	return p, &reports
}

func TestPoolConcurrencyLimitUnder64ConcurrentInvokes(t *testing.T) {
	const limit = 5
	p, _ := newTestPool(t, PoolConfig{PerEnvironment: 1}, Function{Name: "f", MemoryMiB: 128, Timeout: 10 * time.Second, ReservedConcurrency: limit})
	var ok, throttled, other atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Invoke(context.Background(), "f", "", []byte(`{"sleepMs":300}`))
			switch {
			case errors.Is(err, ErrThrottled):
				throttled.Add(1)
			case err == nil && r.FunctionError == "":
				ok.Add(1)
			default:
				other.Add(1)
				t.Errorf("invoke: %v %s", err, r.Payload)
			}
		}()
	}
	wg.Wait()
	st, _ := p.Stats("f")
	if ok.Load() < limit || ok.Load()+throttled.Load() != 64 || other.Load() != 0 {
		t.Fatalf("ok %d throttled %d other %d: want at least %d served, the rest throttled, none failing", ok.Load(), throttled.Load(), other.Load(), limit)
	}
	if st.Environments > limit || st.ColdStarts > limit {
		t.Fatalf("%d environments, %d cold starts: the limit is %d", st.Environments, st.ColdStarts, limit)
	}
	if st.Throttles != throttled.Load() {
		t.Fatalf("Stats.Throttles %d, callers saw %d", st.Throttles, throttled.Load())
	}
}

func TestPoolScalesToZeroAndColdStartsAgain(t *testing.T) {
	p, reports := newTestPool(t, PoolConfig{IdleTimeout: 200 * time.Millisecond}, Function{Name: "f", MemoryMiB: 256, Timeout: 5 * time.Second})
	first := invokePool(t, p, `{"id":"o1"}`)
	second := invokePool(t, p, `{"id":"o2"}`)
	if first.Pid == 0 || first.Pid != second.Pid {
		t.Fatalf("pids %d then %d: the second invocation must reuse the warm environment", first.Pid, second.Pid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := p.Stats("f")
		if st.Environments == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d environments after the idle timeout", st.Environments)
		}
		time.Sleep(20 * time.Millisecond)
	}
	third := invokePool(t, p, `{"id":"o3"}`)
	if third.Pid == first.Pid {
		t.Fatal("after scaling to zero the invocation must cold-start a new environment")
	}
	st, _ := p.Stats("f")
	if st.ColdStarts != 2 || st.Invocations != 3 {
		t.Fatalf("stats %+v, want 2 cold starts and 3 invocations", st)
	}
	rs := *reports
	if len(rs) != 3 || rs[0].InitDuration == 0 || rs[1].InitDuration != 0 || rs[2].InitDuration == 0 {
		t.Fatalf("reports %+v: Init Duration belongs to the cold starts only", rs)
	}
	line := rs[0].String()
	for _, want := range []string{"REPORT RequestId: ", "\tDuration: ", " ms\tBilled Duration: ", "\tMemory Size: 256 MB", "\tInit Duration: "} {
		if !strings.Contains(line, want) {
			t.Fatalf("REPORT line %q lacks %q", line, want)
		}
	}
	if want := float64(3*rs[0].BilledMs()) / 1000 * 0.25; st.GBSeconds <= 0 || st.BilledMs < 3 {
		t.Fatalf("GBSeconds %v BilledMs %d (about %v expected)", st.GBSeconds, st.BilledMs, want)
	}
}

func TestPoolReplacesAnEnvironmentAfterAPanicOrTimeout(t *testing.T) {
	p, _ := newTestPool(t, PoolConfig{}, Function{Name: "f", MemoryMiB: 128, Timeout: 500 * time.Millisecond})
	before := invokePool(t, p, `{}`)
	r, err := p.Invoke(context.Background(), "f", "", []byte(`{"panic":"boom"}`))
	if err != nil || r.FunctionError != "Unhandled" {
		t.Fatalf("panic: %v %q %s", err, r.FunctionError, r.Payload)
	}
	after := invokePool(t, p, `{}`)
	if after.Pid == before.Pid {
		t.Fatal("the environment whose handler panicked must be replaced")
	}
	r, err = p.Invoke(context.Background(), "f", "", []byte(`{"sleepMs":3000}`))
	if err != nil || !r.TimedOut || !strings.Contains(string(r.Payload), "Task timed out after 0.50 seconds") {
		t.Fatalf("timeout: %v %+v %s", err, r, r.Payload)
	}
	again := invokePool(t, p, `{}`)
	if again.Pid == after.Pid {
		t.Fatal("the environment whose invocation timed out must be replaced (the handler may still run)")
	}
	st, _ := p.Stats("f")
	if st.Errors != 2 || st.Invocations != 5 {
		t.Fatalf("stats %+v, want 5 invocations, 2 errors", st)
	}
}

func TestPoolMissingImageFailsClearly(t *testing.T) {
	p, _ := newTestPool(t, PoolConfig{}, Function{Name: "f", Image: "/nonexistent/handler", MemoryMiB: 128})
	_, err := p.Invoke(context.Background(), "f", "", []byte(`{}`))
	if !errors.Is(err, ErrInit) || !strings.Contains(err.Error(), "/nonexistent/handler") {
		t.Fatalf("got %v, want ErrInit naming the image", err)
	}
}

type answer struct {
	Receipt string
	Pid     int
}

func invokePool(t *testing.T, p *Pool, payload string) answer {
	t.Helper()
	r, err := p.Invoke(context.Background(), "f", "", []byte(payload))
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke %s: %v %s", payload, err, r.Payload)
	}
	var a answer
	if err := json.Unmarshal(r.Payload, &a); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", r.Payload, err))
	}
	return a
}

func TestPoolConcurrentColdInvocationsShareAStartingEnvironment(t *testing.T) {
	p, _ := newTestPool(t, PoolConfig{PerEnvironment: 4}, Function{Name: "f", MemoryMiB: 128, Timeout: 10 * time.Second})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := p.Invoke(context.Background(), "f", "", []byte(`{"sleepMs":200}`)); err != nil || r.FunctionError != "" {
				t.Errorf("invoke: %v %s", err, r.Payload)
			}
		}()
	}
	wg.Wait()
	if st, _ := p.Stats("f"); st.ColdStarts != 2 || st.Invocations != 8 {
		t.Fatalf("stats %+v: 8 concurrent invocations at 4 per environment need exactly 2 cold starts", st)
	}
}

func TestPoolReportsTheEnvironmentsPeakMemory(t *testing.T) {
	p, reports := newTestPool(t, PoolConfig{}, Function{Name: "f", MemoryMiB: 512, Timeout: 10 * time.Second})
	small := invokePool(t, p, `{}`)
	big := invokePool(t, p, `{"allocMB":64}`)
	after := invokePool(t, p, `{}`)
	if small.Pid != big.Pid || big.Pid != after.Pid {
		t.Fatalf("pids %d %d %d: want one warm environment", small.Pid, big.Pid, after.Pid)
	}
	rs := *reports
	if len(rs) != 3 {
		t.Fatalf("%d reports, want 3", len(rs))
	}
	if rs[0].MaxMemoryMiB <= 0 || rs[0].MaxMemoryMiB >= 64 {
		t.Errorf("first invocation: Max Memory Used %d MB, want a few MB (the handler allocated nothing)", rs[0].MaxMemoryMiB)
	}
	// The peak so far, as Lambda reports it: the later call still shows it.
	for i, r := range rs[1:] {
		if r.MaxMemoryMiB < 64 || r.MaxMemoryMiB > 512 {
			t.Errorf("invocation %d: Max Memory Used %d MB, want >= 64 (a 64 MB allocation) and <= 512 (MemorySize)", i+2, r.MaxMemoryMiB)
		}
	}
	if line, want := rs[2].String(), fmt.Sprintf("\tMemory Size: 512 MB\tMax Memory Used: %d MB", rs[2].MaxMemoryMiB); !strings.Contains(line, want) {
		t.Errorf("REPORT line %q lacks %q", line, want)
	}
	if st, _ := p.Stats("f"); st.MaxMemoryMiB != rs[2].MaxMemoryMiB {
		t.Errorf("Stats.MaxMemoryMiB %d, want the reports' highest %d", st.MaxMemoryMiB, rs[2].MaxMemoryMiB)
	}
}

func TestReportLineWithoutAMemoryFigure(t *testing.T) {
	r := Report{RequestID: "r1", Duration: 1500 * time.Microsecond, MemoryMiB: 128}
	if got, want := r.String(), "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"; got != want {
		t.Fatalf("got %q, want %q (no Max Memory Used when the launcher cannot tell)", got, want)
	}
	r.MaxMemoryMiB, r.InitDuration = 70, 30*time.Millisecond
	if got, want := r.String(), "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 30.00 ms"; got != want {
		t.Fatalf("got %q, want %q (Lambda's order)", got, want)
	}
}
