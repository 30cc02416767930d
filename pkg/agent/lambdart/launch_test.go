package lambdart

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
)

// countingRuntime counts the image look-ups a launch makes.
type countingRuntime struct {
	*fake.Runtime
	ensures atomic.Int32
}

func (c *countingRuntime) EnsureImage(ctx context.Context, image, policy string) error {
	c.ensures.Add(1)
	return c.Runtime.EnsureImage(ctx, image, policy)
}

// A cold start asks Docker about the image only when it is missing (or
// the policy says always pull), and a missing image is still pulled or
// refused by the policy.
func TestRuntimeLauncherLooksAtTheImageOnlyWhenItIsMissing(t *testing.T) {
	const img = "orch-example/receipt:latest"
	for _, tc := range []struct {
		name        string
		present     bool
		policy      string
		wantEnsures int32
		wantErr     string
	}{
		{"present", true, "", 0, ""},
		{"present, never", true, "never", 0, ""},
		{"missing: pulled", false, "if-not-present", 1, ""},
		{"missing, never: refused", false, "never", 1, "not present"},
		{"always pulls", true, "always", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &countingRuntime{Runtime: fake.New(fake.Config{})}
			if tc.present {
				rt.AddImages(img)
			}
			l := RuntimeLauncher{Runtime: rt, PullPolicy: tc.policy}
			inst, err := l.Launch(context.Background(), LaunchSpec{Name: "f-1", Function: "f", Image: img, MemoryMiB: 128})
			if got := rt.ensures.Load(); got != tc.wantEnsures {
				t.Errorf("%d image look-ups, want %d", got, tc.wantEnsures)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, runtime.ErrNotFound) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Stop()
			states, err := rt.List(context.Background(), map[string]string{"orch.function": "f"})
			if err != nil || len(states) != 1 || states[0].Status != runtime.StatusRunning {
				t.Fatalf("containers %+v (%v), want the environment running", states, err)
			}
		})
	}
}

// peakRuntime is a fake runtime that tells memory peaks, holding each
// call until release is closed, and records the calls and removals in order.
type peakRuntime struct {
	*fake.Runtime
	release chan struct{}
	mu      sync.Mutex
	events  []string
}

func (p *peakRuntime) record(ev string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
}

func (p *peakRuntime) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.events...)
}

func (p *peakRuntime) MemoryPeak(ctx context.Context, id string) (int64, error) {
	p.record("peak")
	<-p.release
	return 1 << 20, nil
}

func (p *peakRuntime) Remove(ctx context.Context, id string) error {
	p.record("remove")
	return p.Runtime.Remove(ctx, id)
}

// A started container's memory peak is asked for at once (the runtime
// finds its cgroup file then, off the first invocation's path), and
// stopping the container waits for that call, so it cannot reopen the
// file after the removal closed it.
func TestRuntimeLauncherPrimesTheMemoryPeak(t *testing.T) {
	const img = "orch-example/receipt:latest"
	rt := &peakRuntime{Runtime: fake.New(fake.Config{}), release: make(chan struct{})}
	rt.AddImages(img)
	inst, err := RuntimeLauncher{Runtime: rt}.Launch(context.Background(), LaunchSpec{Name: "f-1", Function: "f", Image: img, MemoryMiB: 128})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rt.snapshot()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the launcher did not ask for the memory peak after the start")
		}
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { inst.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatalf("Stop returned while the priming call ran: %v", rt.snapshot())
	case <-time.After(100 * time.Millisecond): // Stop must still be waiting: a bounded check, not a pause for progress
	}
	close(rt.release)
	<-stopped
	if got := rt.snapshot(); len(got) != 2 || got[0] != "peak" || got[1] != "remove" {
		t.Fatalf("calls %v, want [peak remove]", got)
	}
}

// waitRuntime is a fake runtime that counts inspections and can make the
// next waits fail as a broken connection to the daemon would.
type waitRuntime struct {
	*fake.Runtime
	inspects  atomic.Int32
	waits     atomic.Int32
	breakWait atomic.Int32 // waits still to fail at once
}

func (w *waitRuntime) Inspect(ctx context.Context, id string) (runtime.State, error) {
	w.inspects.Add(1)
	return w.Runtime.Inspect(ctx, id)
}

func (w *waitRuntime) Wait(ctx context.Context, id string) error {
	w.waits.Add(1)
	if w.breakWait.Add(-1) >= 0 {
		return errors.New("docker wait: unexpected EOF (the daemon restarted)")
	}
	return w.Runtime.Wait(ctx, id)
}

func exitedWithin(t *testing.T, inst Instance, d time.Duration) {
	t.Helper()
	select {
	case <-inst.Exited():
	case <-time.After(d):
		t.Fatalf("the environment's exit was not noticed within %s", d)
	}
}

// An idle environment costs the runtime nothing while it runs (one wait
// held open, no state polling), its exit is noticed at once, and a wait
// the runtime breaks (a daemon restart) is taken up again for a container
// still running.
func TestRuntimeLauncherWaitsForTheExitWithoutPolling(t *testing.T) {
	const img = "orch-example/receipt:latest"
	rt := &waitRuntime{Runtime: fake.New(fake.Config{})}
	rt.AddImages(img)
	l := RuntimeLauncher{Runtime: rt}
	ctx := context.Background()
	var insts []Instance
	for i := range 4 {
		inst, err := l.Launch(ctx, LaunchSpec{Name: "f-" + strconv.Itoa(i), Function: "f", Image: img, MemoryMiB: 128})
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Stop()
		insts = append(insts, inst)
	}
	// A bounded look at idle environments: polling every 200 ms would
	// have inspected each of them about 5 times by now.
	time.Sleep(time.Second)
	if n := rt.inspects.Load(); n != 0 {
		t.Fatalf("%d inspections of 4 idle environments in 1 s, want none (a wait each, no polling)", n)
	}
	if n := rt.waits.Load(); n != 4 {
		t.Fatalf("%d waits for 4 environments, want one each", n)
	}
	ids := func() []string {
		states, err := rt.List(ctx, map[string]string{"orch.function": "f"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range states {
			out = append(out, st.ID)
		}
		return out
	}()

	// The container dies: noticed at once.
	if err := rt.Exit(ids[0], 2); err != nil {
		t.Fatal(err)
	}
	exitedWithin(t, insts[0], 5*time.Second)

	// A broken wait while the container runs: inspected, waited for again.
	rt.breakWait.Store(1)
	before := rt.waits.Load()
	inst, err := l.Launch(ctx, LaunchSpec{Name: "f-broken", Function: "g", Image: img, MemoryMiB: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for rt.waits.Load() < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("the broken wait was not taken up again (%d waits)", rt.waits.Load()-before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-inst.Exited():
		t.Fatal("a broken wait ended an environment that still runs")
	default:
	}
	states, _ := rt.List(ctx, map[string]string{"orch.function": "g"})
	if err := rt.Exit(states[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	exitedWithin(t, inst, 5*time.Second)

	// Stopped on purpose: not reported as an exit.
	insts[1].Stop()
	select {
	case <-insts[1].Exited():
		t.Fatal("Stop reported the environment as exited")
	case <-time.After(50 * time.Millisecond):
	}
}

// A Docker daemon restart breaks every wait, and the daemon cannot be
// asked about the container until it is back: that is no exit. With
// live-restore the container runs on, and the environment must stay (its
// invocations too); a container that died meanwhile is noticed once the
// daemon answers again, and is then removed (while the daemon was down its
// removal could only fail, leaving it behind).
func TestRuntimeLauncherRidesOutADaemonRestart(t *testing.T) {
	const img = "orch-example/receipt:latest"
	rt := fake.New(fake.Config{})
	rt.AddImages(img)
	l := RuntimeLauncher{Runtime: rt}
	ctx := context.Background()
	launch := func(name string) (Instance, string) {
		t.Helper()
		inst, err := l.Launch(ctx, LaunchSpec{Name: name, Function: name, Image: img, MemoryMiB: 128})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(inst.Stop)
		states, err := rt.List(ctx, map[string]string{"orch.function": name})
		if err != nil || len(states) != 1 {
			t.Fatalf("%s's containers: %v %v", name, states, err)
		}
		return inst, states[0].ID
	}
	live, _ := launch("live")
	died, diedID := launch("died")

	rt.SetDown(errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"))
	if err := rt.Exit(diedID, 137); err != nil { // it dies with the daemon
		t.Fatal(err)
	}
	// A restart takes a while: longer than the watch's first retries.
	time.Sleep(1500 * time.Millisecond)
	for name, inst := range map[string]Instance{"live": live, "died": died} {
		select {
		case <-inst.Exited():
			t.Fatalf("environment %s was declared exited while the daemon was down (it cannot tell)", name)
		default:
		}
	}
	rt.SetDown(nil)
	exitedWithin(t, died, 10*time.Second)
	select {
	case <-live.Exited():
		t.Fatal("the live-restored environment was declared exited after the daemon came back")
	case <-time.After(500 * time.Millisecond):
	}
	died.Stop()
	if _, err := rt.Inspect(ctx, diedID); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("the container that died with the daemon is still there after its environment stopped: %v", err)
	}
}
