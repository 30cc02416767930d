package function

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

func testFn(name string, reserved *int) *model.StoredFunction {
	f := &model.StoredFunction{Function: model.Function{FunctionName: name, MemorySize: 128, Timeout: 3, ReservedConcurrentExecutions: reserved}}
	f.Stamp(time.Now())
	return f
}

// agent answers every request on c with its node name as payload, after
// hold (nil: at once).
func agent(h *Hub, c *Conn, hold chan struct{}) {
	go func() {
		for req := range c.Requests() {
			go func() {
				if hold != nil {
					<-hold
				}
				h.Complete(c.Node(), req.ID, Result{Payload: []byte(c.Node())})
			}()
		}
	}()
}

func TestHubStickyThenSpread(t *testing.T) {
	h := NewHub()
	h.SpreadAt = 2
	h.FreeMemory = func(node string) int { return map[string]int{"a": 4096, "b": 2048}[node] }
	hold := make(chan struct{})
	ca, cb := h.Attach("a"), h.Attach("b")
	agent(h, ca, hold)
	agent(h, cb, hold)
	fn := testFn("f", nil)
	results := make(chan Result, 3)
	for i := 0; i < 3; i++ {
		go func() {
			r, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn})
			if err != nil {
				t.Error(err)
			}
			results <- r
		}()
		// The first goes to the freest agent (a) and warms it; the
		// second stays there (sticky); the third spreads to b.
		deadline := time.Now().Add(5 * time.Second)
		for h.Inflight("f") != i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("invocation %d not dispatched", i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(hold)
	got := map[string]int{}
	for i := 0; i < 3; i++ {
		got[string((<-results).Payload)]++
	}
	if got["a"] != 2 || got["b"] != 1 {
		t.Fatalf("placements = %v, want a:2 (sticky up to SpreadAt) and b:1 (spread)", got)
	}
}

func TestHubThrottlesAtReservedConcurrency(t *testing.T) {
	h := NewHub()
	hold := make(chan struct{})
	agent(h, h.Attach("a"), hold)
	two := 2
	fn := testFn("f", &two)
	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn}); done <- err }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Inflight("f") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("two invocations not in flight")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn}); !errors.Is(err, ErrThrottled) {
		t.Fatalf("third call: err = %v, want ErrThrottled", err)
	}
	close(hold)
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Inflight("f"); n != 0 {
		t.Fatalf("in flight after the calls = %d, want 0", n)
	}
	zero := 0
	if _, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: testFn("g", &zero)}); !errors.Is(err, ErrThrottled) {
		t.Fatalf("reserved 0: err = %v, want ErrThrottled (the function never runs)", err)
	}
}

func TestHubAgentLostFailsItsCalls(t *testing.T) {
	h := NewHub()
	if _, err := h.Call(context.Background(), Request{ID: "x", Function: testFn("f", nil)}); !errors.Is(err, ErrNoAgents) {
		t.Fatalf("no agents: err = %v, want ErrNoAgents", err)
	}
	c := h.Attach("a")
	errc := make(chan error, 1)
	go func() {
		_, err := h.Call(context.Background(), Request{ID: "y", Function: testFn("f", nil)})
		errc <- err
	}()
	<-c.Requests() // the agent took it, then dies
	h.Detach(c)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrAgentLost) {
			t.Fatalf("err = %v, want ErrAgentLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end when its agent went away")
	}
	if h.Complete("a", "y", Result{}) {
		t.Fatal("a late answer was accepted after the call failed")
	}
	if h.Inflight("f") != 0 || h.Agents() != 0 {
		t.Fatalf("in flight %d, agents %d after the loss; want 0, 0", h.Inflight("f"), h.Agents())
	}
}

// The warm environments a function has are what each agent reported with
// its last answer; reports older than WarmFor, and agents gone, count none.
func TestHubCountsTheEnvironmentsAgentsReport(t *testing.T) {
	h := NewHub()
	fn := testFn("f", nil)
	answer := func(c *Conn, envs int) {
		go func() {
			req := <-c.Requests()
			h.Complete(c.Node(), req.ID, Result{Environments: envs})
		}()
	}
	ca := h.Attach("a")
	answer(ca, 3)
	if _, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn}); err != nil {
		t.Fatal(err)
	}
	if n := h.Environments("f"); n != 3 {
		t.Fatalf("Environments = %d after an agent reported 3", n)
	}
	answer(ca, 2) // one stopped since
	if _, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn}); err != nil {
		t.Fatal(err)
	}
	if n := h.Environments("f"); n != 2 {
		t.Fatalf("Environments = %d, want the latest report (2)", n)
	}
	h.WarmFor = time.Nanosecond // the agents' idle timeout has passed
	if n := h.Environments("f"); n != 0 {
		t.Fatalf("Environments = %d after the idle timeout, want 0", n)
	}
	h.WarmFor = time.Hour
	h.Detach(ca)
	if n := h.Environments("f"); n != 0 {
		t.Fatalf("Environments = %d after the agent left, want 0", n)
	}
}

// An agent that is stopping refuses the invocations still sent to it: the
// hub places each on another agent (it did not run) and sends the
// stopping agent no more; with no other agent the call fails as ErrNoAgents.
func TestHubPlacesAgainWhatAStoppingAgentRefused(t *testing.T) {
	h := NewHub()
	h.FreeMemory = func(node string) int { return map[string]int{"a": 4096, "b": 2048}[node] }
	ca, cb := h.Attach("a"), h.Attach("b")
	refused := make(chan string, 10)
	go func() {
		for req := range ca.Requests() {
			refused <- req.ID
			h.Stopping("a", req.ID)
		}
	}()
	agent(h, cb, nil)
	fn := testFn("f", nil)
	for i := range 3 {
		r, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn})
		if err != nil || string(r.Payload) != "b" {
			t.Fatalf("call %d: %q %v, want it answered by b", i, r.Payload, err)
		}
	}
	// a (the freest) got the first and refused it; no other came to it.
	if len(refused) != 1 {
		t.Fatalf("the stopping agent was sent %d invocations, want 1 (the one that told the hub it stops)", len(refused))
	}
	if n := h.Inflight("f"); n != 0 {
		t.Fatalf("in flight after the calls = %d, want 0", n)
	}
	h.Detach(cb)
	if _, err := h.Call(context.Background(), Request{ID: NewRequestID(), Function: fn}); !errors.Is(err, ErrNoAgents) {
		t.Fatalf("only a stopping agent attached: err = %v, want ErrNoAgents", err)
	}
}
