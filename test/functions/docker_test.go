// Package functions tests Orch's function environments on the real Docker
// with the real aws-lambda-go image (orch-example/receipt, `make images`).
package functions

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
)

// image is the handler's image: orch-example/receipt:latest, or
// ORCH_FN_IMAGE (on a machine several trees share, a tag built from this
// one: ORCH_IMAGE_TAG=mine scripts/build-images.sh receipt).
var image = cmp.Or(os.Getenv("ORCH_FN_IMAGE"), "orch-example/receipt:latest")

// needDocker fails in CI (CI=true) and skips elsewhere when Docker or the
// image is missing.
func needDocker(t testing.TB) {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker is required in CI: %v", err)
		}
		t.Skipf("Docker is not reachable (%v); start dockerd to run the function Docker tests", err)
	}
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		t.Fatalf("image %s is missing: run `make images` first", image)
	}
}

// bridgeAddr is where containers reach the host: docker0's address, so the
// environments' endpoints are not exposed on the host's other interfaces.
func bridgeAddr() string {
	if ifc, err := net.InterfaceByName("docker0"); err == nil {
		if addrs, err := ifc.Addrs(); err == nil {
			for _, a := range addrs {
				if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil {
					return ip.IP.String() + ":0"
				}
			}
		}
	}
	return "0.0.0.0:0"
}

// dockerPool is a pool whose environments are containers labelled with a
// unique node name (removed at the end).
func dockerPool(t testing.TB, cfg lambdart.PoolConfig, fn lambdart.Function) *lambdart.Pool {
	t.Helper()
	needDocker(t)
	rt, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	node := fmt.Sprintf("fn-test-%d", time.Now().UnixNano()%1e9)
	cfg.Launcher = lambdart.RuntimeLauncher{Runtime: rt, Labels: map[string]string{"orch.node": node}, PullPolicy: "never"}
	cfg.ListenAddr = bridgeAddr()
	cfg.RuntimeHost = "host.docker.internal"
	p := lambdart.NewPool(cfg)
	t.Cleanup(func() {
		p.Close()
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.node="+node).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			t.Errorf("containers left after Close: %v", ids)
			_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	fn.Image = image
	p.Put(fn)
	return p
}

func running(t testing.TB, fn string) int {
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=orch.function="+fn).Output()
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(out)))
}

func TestDockerInvokeTimeoutPanicAndScaleToZero(t *testing.T) {
	name := fmt.Sprintf("receipts-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(t, lambdart.PoolConfig{IdleTimeout: 2 * time.Second, PerEnvironment: 4},
		lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 2 * time.Second})
	ctx := context.Background()

	// Cold start, then warm.
	r, err := p.Invoke(ctx, name, "", []byte(`{"id":"o1","customer":"ana","drink":"latte","price":4}`))
	if err != nil || r.FunctionError != "" {
		t.Fatalf("invoke: %v %s", err, r.Payload)
	}
	var got struct {
		Receipt, Function string
		MemoryMB          int
	}
	_ = json.Unmarshal(r.Payload, &got)
	if got.Receipt != "RECEIPT order=o1 customer=ana drink=latte total=4.00" || got.Function != name || got.MemoryMB != 128 {
		t.Fatalf("response %s", r.Payload)
	}
	if n := running(t, name); n != 1 {
		t.Fatalf("%d containers after a cold start, want 1", n)
	}

	// Handler error, then a timeout: Task timed out, and the container is replaced.
	r, _ = p.Invoke(ctx, name, "", []byte(`{"fail":"no beans"}`))
	if r.FunctionError != "Unhandled" || !strings.Contains(string(r.Payload), "no beans") {
		t.Fatalf("error: %q %s", r.FunctionError, r.Payload)
	}
	r, _ = p.Invoke(ctx, name, "", []byte(`{"sleepMs":10000}`))
	if !r.TimedOut || !strings.Contains(string(r.Payload), "Task timed out after 2.0") {
		t.Fatalf("timeout: %+v %s", r, r.Payload)
	}
	// A panic is an error, and the environment is replaced.
	r, _ = p.Invoke(ctx, name, "", []byte(`{"panic":"steam wand"}`))
	if r.FunctionError != "Unhandled" || !strings.Contains(string(r.Payload), "steam wand") {
		t.Fatalf("panic: %q %s", r.FunctionError, r.Payload)
	}

	// Scale to zero after the idle timeout, and a cold start after it.
	deadline := time.Now().Add(30 * time.Second)
	for running(t, name) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d containers still running after the idle timeout", running(t, name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	r, err = p.Invoke(ctx, name, "", []byte(`{"echo":"again"}`))
	if err != nil || string(r.Payload) != `"again"` {
		t.Fatalf("cold start after zero: %v %s", err, r.Payload)
	}
	t.Logf("cold start after scale to zero: %s", time.Since(start))
	st, _ := p.Stats(name)
	if st.Invocations != 5 || st.Errors != 3 || st.ColdStarts < 2 {
		t.Fatalf("stats %+v: want 5 invocations, 3 errors, at least 2 cold starts", st)
	}
}

func TestDockerConcurrencyLimitUnder64ConcurrentInvokes(t *testing.T) {
	name := fmt.Sprintf("limited-%d", time.Now().UnixNano()%1e9)
	const limit = 6
	p := dockerPool(t, lambdart.PoolConfig{PerEnvironment: 3},
		lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 10 * time.Second, ReservedConcurrency: limit})
	var ok, throttled atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Invoke(context.Background(), name, "", []byte(`{"sleepMs":1500}`))
			switch {
			case errors.Is(err, lambdart.ErrThrottled):
				throttled.Add(1)
			case err == nil && r.FunctionError == "":
				ok.Add(1)
			default:
				t.Errorf("invoke: %v %s", err, r.Payload)
			}
		}()
	}
	wg.Wait()
	st, _ := p.Stats(name)
	if ok.Load() < limit || ok.Load()+throttled.Load() != 64 {
		t.Fatalf("served %d, throttled %d of 64: want at least %d served and the rest throttled", ok.Load(), throttled.Load(), limit)
	}
	// 3 invocations per environment: 6 concurrent need at most 2 containers.
	if st.ColdStarts > 2 {
		t.Fatalf("%d cold starts for %d concurrent invocations at 3 per environment", st.ColdStarts, limit)
	}
}

// Lambda's Max Memory Used is the environment's peak, read from the
// container's memory cgroup: a handler that touches 64 MB reports at least
// that, never more than MemorySize (the container's limit), and later
// invocations in the same environment keep reporting the peak so far.
func TestDockerReportsMaxMemoryUsed(t *testing.T) {
	name := fmt.Sprintf("fnrest-mem-%d", time.Now().UnixNano()%1e9)
	var mu sync.Mutex
	var reports []lambdart.Report
	p := dockerPool(t, lambdart.PoolConfig{PerEnvironment: 1, Report: func(r lambdart.Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }},
		lambdart.Function{Name: name, MemoryMiB: 256, Timeout: 10 * time.Second})
	for _, payload := range []string{`{"echo":1}`, `{"allocMB":64}`, `{"echo":3}`} {
		if r, err := p.Invoke(context.Background(), name, "", []byte(payload)); err != nil || r.FunctionError != "" {
			t.Fatalf("invoke %s: %v %s", payload, err, r.Payload)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3", len(reports))
	}
	t.Logf("REPORT lines:\n%s\n%s\n%s", reports[0], reports[1], reports[2])
	if m := reports[0].MaxMemoryMiB; m < 1 || m >= 64 {
		t.Errorf("before allocating: Max Memory Used %d MB, want a few MB", m)
	}
	for i, r := range reports[1:] {
		if r.MaxMemoryMiB < 64 || r.MaxMemoryMiB > 256 {
			t.Errorf("invocation %d: Max Memory Used %d MB, want 64..256 (allocated 64 MB; MemorySize 256)", i+2, r.MaxMemoryMiB)
		}
		if want := fmt.Sprintf("Max Memory Used: %d MB", r.MaxMemoryMiB); !strings.Contains(r.String(), want) {
			t.Errorf("REPORT line %q lacks %q", r.String(), want)
		}
	}
}

// An environment whose container dies mid-invocation (the handler exits
// the process without answering): the invocation ends at once with
// Runtime.ExitError, not at its 60 s timeout, and the next invocation gets
// a new environment. The agent learns of the exit from one Docker wait
// per container (no state polling).
func TestDockerEnvironmentDiesMidInvocation(t *testing.T) {
	name := fmt.Sprintf("dies-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(t, lambdart.PoolConfig{IdleTimeout: time.Minute, PerEnvironment: 1},
		lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 60 * time.Second})
	ctx := context.Background()
	if r, err := p.Invoke(ctx, name, "", []byte(`{"echo":"warm"}`)); err != nil || string(r.Payload) != `"warm"` {
		t.Fatalf("warm invoke: %v %s", err, r.Payload)
	}
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=orch.function="+name).Output()
	ids := strings.Fields(string(out))
	if err != nil || len(ids) != 1 {
		t.Fatalf("environments %v (%v), want one", ids, err)
	}
	start := time.Now()
	r, err := p.Invoke(ctx, name, "", []byte(`{"exit":3}`))
	took := time.Since(start)
	t.Logf("the invocation ended %s after it began", took.Round(time.Millisecond))
	if err != nil || r.ErrorType != "Runtime.ExitError" || r.FunctionError != "Unhandled" {
		t.Fatalf("answer %+v %v (%s), want an Unhandled Runtime.ExitError", r, err, r.Payload)
	}
	if took > 20*time.Second {
		t.Fatalf("the exit took %s to notice", took)
	}
	r, err = p.Invoke(ctx, name, "", []byte(`{"echo":"again"}`))
	if err != nil || string(r.Payload) != `"again"` {
		t.Fatalf("invoke after the exit: %v %s", err, r.Payload)
	}
	out, _ = exec.Command("docker", "ps", "-q", "--filter", "label=orch.function="+name).Output()
	if now := strings.Fields(string(out)); len(now) != 1 || now[0] == ids[0] {
		t.Fatalf("environments after the exit %v, want one new one (the dead one was %s)", now, ids[0])
	}
}

// goroutinesIn counts the goroutines whose stack passes through fn.
func goroutinesIn(fn string) int {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// An environment the pool stops (idle, scale to zero) leaves nothing
// behind on the agent: neither its container nor a goroutine waiting for
// that container's exit. Environments come and go all day on a node with
// an idle timeout, and the agent runs for months.
func TestDockerStoppedEnvironmentsLeaveNoGoroutine(t *testing.T) {
	name := fmt.Sprintf("idle-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(t, lambdart.PoolConfig{IdleTimeout: time.Second, PerEnvironment: 1},
		lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 10 * time.Second})
	const watcher = "lambdart.(*Pool).coldStart"
	before := goroutinesIn(watcher)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 3 { // three environments at once
		wg.Go(func() {
			if r, err := p.Invoke(ctx, name, "", []byte(fmt.Sprintf(`{"echo":"%d","sleepMs":300}`, i))); err != nil || r.FunctionError != "" {
				t.Errorf("invoke %d: %v %s", i, err, r.Payload)
			}
		})
	}
	wg.Wait()
	if st, _ := p.Stats(name); st.Environments < 1 {
		t.Fatalf("%d environments after 3 concurrent invocations, want some", st.Environments)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := p.Stats(name)
		n, left := running(t, name), goroutinesIn(watcher)-before
		if st.Environments == 0 && n == 0 && left <= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the invocations, past the 1 s idle timeout: %d environments, %d containers running, %d goroutines still waiting for a stopped environment's exit",
				st.Environments, n, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
