package lambdart

import (
	"context"
	"sync"
	"testing"
	"time"
)

// orderLauncher wraps ProcessLauncher, records launches and stops in
// order, and holds the launch numbered hold until release is closed.
type orderLauncher struct {
	mu      sync.Mutex
	events  []string
	n       int
	hold    int
	insts   []Instance // in launch order
	entered chan struct{}
	release chan struct{}
}

type orderInstance struct {
	Instance
	l    *orderLauncher
	name string
}

func (i orderInstance) Stop() {
	i.l.record("stop " + i.name)
	i.Instance.Stop()
}

func (l *orderLauncher) record(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *orderLauncher) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *orderLauncher) Launch(ctx context.Context, spec LaunchSpec) (Instance, error) {
	l.mu.Lock()
	l.n++
	n := l.n
	l.mu.Unlock()
	name := map[int]string{1: "old", 2: "new"}[n]
	if n == l.hold {
		close(l.entered)
		<-l.release
	}
	inst, err := ProcessLauncher{}.Launch(ctx, spec)
	if err != nil {
		return nil, err
	}
	l.record("launched " + name)
	l.mu.Lock()
	l.insts = append(l.insts, inst)
	l.mu.Unlock()
	return orderInstance{Instance: inst, l: l, name: name}, nil
}

// A configuration change retires the old environment, but its container
// is stopped only after the new environment has answered its first
// invocation, so that the two do not compete for the container runtime.
// Its endpoint stays open until then too: a runtime whose poll fails exits
// on its own, which would start the teardown as early.
func TestRetiredEnvironmentStopsAfterTheColdStart(t *testing.T) {
	l := &orderLauncher{hold: 2, entered: make(chan struct{}), release: make(chan struct{})}
	p := NewPool(PoolConfig{Launcher: l, PerEnvironment: 1})
	t.Cleanup(p.Close)
	fn := Function{Name: "f", Image: handlerBin, MemoryMiB: 128, Timeout: 10 * time.Second}
	p.Put(fn)
	ctx := context.Background()
	if _, err := p.Invoke(ctx, "f", "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	fn.Env = map[string]string{"ROUND": "2"}
	p.Put(fn) // retires "old"
	done := make(chan error, 1)
	go func() { _, err := p.Invoke(ctx, "f", "", []byte(`{}`)); done <- err }()
	<-l.entered
	// While the new environment launches, the old one is not stopped and
	// its runtime does not exit.
	l.mu.Lock()
	old := l.insts[0]
	l.mu.Unlock()
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, ev := range l.snapshot() {
			if ev == "stop old" {
				t.Fatalf("the old environment was stopped during the new one's launch: %v", l.snapshot())
			}
		}
		select {
		case <-old.Exited():
			t.Fatal("the old environment's runtime exited during the new one's launch (its endpoint was closed)")
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(l.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		evs := l.snapshot()
		if len(evs) == 3 {
			if evs[0] != "launched old" || evs[1] != "launched new" || evs[2] != "stop old" {
				t.Fatalf("events %v, want the old stopped after the new launched", evs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old environment was never stopped: %v", evs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
