package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/server"
)

// unreachableResults is the agent's real control plane, except that while
// down is set its result posts fail as they would with the server out of
// reach (the invocation stream, already open, stays up).
type unreachableResults struct {
	*client.Client
	down    atomic.Bool
	refused atomic.Int32
	taken   atomic.Int32 // invocations the agent has taken off the stream
}

// Invocations passes the stream on, counting the invocations the agent
// took: after each it passes a ping, which the agent can only receive
// once it has dealt with the invocation (started it, or refused it).
func (u *unreachableResults) Invocations(ctx context.Context, node string) (<-chan wire.InvocationEvent, <-chan error) {
	evs, errs := u.Client.Invocations(ctx, node)
	out := make(chan wire.InvocationEvent)
	go func() {
		defer close(out)
		for ev := range evs {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			if ev.Type == wire.InvocationInvoke {
				select {
				case out <- wire.InvocationEvent{Type: wire.InvocationPing}:
					u.taken.Add(1)
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errs
}

// FollowInvocations is Invocations for the agent's direct form (which it
// prefers: without this, the embedded client's would bypass the count).
// The agent has dealt with an invocation once handle returns.
func (u *unreachableResults) FollowInvocations(ctx context.Context, node string, handle func(wire.InvocationEvent) error) error {
	return u.Client.FollowInvocations(ctx, node, func(ev wire.InvocationEvent) error {
		err := handle(ev)
		if ev.Type == wire.InvocationInvoke {
			u.taken.Add(1)
		}
		return err
	})
}

func (u *unreachableResults) InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error {
	if u.down.Load() {
		u.refused.Add(1)
		return errors.New("dial tcp: connection refused (the test keeps the server out of reach)")
	}
	return u.Client.InvocationResults(ctx, node, rs)
}

func (u *unreachableResults) InvocationResult(ctx context.Context, node, id string, r wire.InvocationResult) error {
	if u.down.Load() {
		u.refused.Add(1)
		return errors.New("dial tcp: connection refused (the test keeps the server out of reach)")
	}
	return u.Client.InvocationResult(ctx, node, id, r)
}

// channelPlane is u without FollowInvocations: the agent takes its
// invocations through the channel form (Invocations), as from a control
// plane that has only that.
type channelPlane struct{ u *unreachableResults }

func (c channelPlane) Invocations(ctx context.Context, node string) (<-chan wire.InvocationEvent, <-chan error) {
	return c.u.Invocations(ctx, node)
}

func (c channelPlane) InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error {
	return c.u.InvocationResults(ctx, node, rs)
}

func (c channelPlane) InvocationResult(ctx context.Context, node, id string, r wire.InvocationResult) error {
	return c.u.InvocationResult(ctx, node, id, r)
}

type invokeAnswer struct {
	res *wire.InvokeResponse
	err error
	at  time.Time
}

// invokeAsync invokes fn with payload in the background; the answer
// arrives on the channel with the time it came.
func invokeAsync(ctx context.Context, c *client.Client, fn, payload string) <-chan invokeAnswer {
	out := make(chan invokeAnswer, 1)
	go func() {
		res, err := c.Invoke(ctx, fn, wire.InvokeRequest{Payload: json.RawMessage(payload)})
		out <- invokeAnswer{res, err, time.Now()}
	}()
	return out
}

// waitAnswer is an invocation's answer, or a failure after 60 s.
func waitAnswer(t *testing.T, c <-chan invokeAnswer) invokeAnswer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(60 * time.Second):
		t.Fatal("the invocation did not end")
		return invokeAnswer{}
	}
}

// TestAgentStopDrainsInvocations stops an agent (its Run context ends, as
// on SIGTERM) while invocations run: their callers get the handlers' real
// answers even though the server is out of reach for the first tries;
// an invocation arriving during the stop is refused as throttled; and a
// stop is bounded by the stop and flush timeouts when a handler or the
// server does not finish.
func TestAgentStopDrainsInvocations(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "receipt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/apps/receipt").CombinedOutput(); err != nil {
		t.Fatalf("building the receipt handler: %v\n%s", err, out)
	}
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"receipt","Code":{"ImageUri":"`+bin+`"},"Timeout":60}}`)

	// startAgent runs an agent whose result posts go through u (and its
	// invocations through u's channel form if channel), and returns a stop
	// that ends its Run context and a channel that gets Run's end.
	startAgent := func(name string, u *unreachableResults, channel bool, stopTimeout, flushTimeout time.Duration) (context.CancelFunc, func() time.Time) {
		var plane agent.FunctionControlPlane = u
		if channel {
			plane = channelPlane{u}
		}
		actx, stop := context.WithCancel(ctx)
		ag, err := agent.New(agent.Config{NodeName: name, Runtime: fake.New(fake.Config{}), ControlPlane: u.Client,
			Logger: testutil.Logger(), StatsInterval: -1,
			Functions: &agent.FunctionsConfig{Launcher: lambdart.ProcessLauncher{}, ListenAddr: "127.0.0.1:0", RuntimeHost: "127.0.0.1",
				StopTimeout: stopTimeout, FlushTimeout: flushTimeout,
				Planes: func() []agent.FunctionControlPlane { return []agent.FunctionControlPlane{plane} }}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var end time.Time
		go func() {
			if err := ag.Run(actx); err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
			end = time.Now()
			close(done)
		}()
		t.Cleanup(func() {
			stop()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Errorf("agent %s did not stop", name)
			}
		})
		// Warm: one invocation through this agent.
		testutil.WaitFor(t, 30*time.Second, "an invocation through "+name, func() (bool, string) {
			res, err := cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"id":"warm","drink":"tea","price":1}`)})
			if err != nil {
				return false, err.Error()
			}
			return res.Node == name, "answered by " + res.Node
		})
		u.taken.Store(0)
		// ended waits (within a generous bound) for Run to return, and
		// says when it did.
		ended := func() time.Time {
			t.Helper()
			select {
			case <-done:
				return end
			case <-time.After(30 * time.Second):
				t.Fatalf("agent %s did not stop within 30 s of its stop", name)
				return time.Time{}
			}
		}
		return stop, ended
	}
	invoke := func(payload string) <-chan invokeAnswer { return invokeAsync(ctx, cp.Admin, "receipt", payload) }
	wait := func(c <-chan invokeAnswer) invokeAnswer { t.Helper(); return waitAnswer(t, c) }
	// taken waits until the agent has started n invocations.
	taken := func(u *unreachableResults, n int) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("%d invocations started", n), func() (bool, string) {
			return int(u.taken.Load()) == n, fmt.Sprintf("%d started", u.taken.Load())
		})
	}

	t.Run("running invocations answer their callers across a server outage", func(t *testing.T) {
		u := &unreachableResults{Client: cp.Agent.Clone()}
		stop, ended := startAgent("drain-node", u, false, 30*time.Second, 30*time.Second)
		var calls []<-chan invokeAnswer
		for i := range 3 {
			calls = append(calls, invoke(fmt.Sprintf(`{"id":"o-%d","customer":"eve","drink":"latte","price":3,"sleepMs":1500}`, i)))
		}
		taken(u, 3)
		u.down.Store(true)
		stopped := time.Now()
		stop()
		// An invocation that comes while the agent drains is not run
		// there: the agent refuses it and the server places it again,
		// on no agent here (the only one is stopping).
		late := invoke(`{"id":"late","drink":"tea","price":1}`)
		// The handlers finish and their results are refused more times
		// than a running agent would try (3): a stopping one keeps on.
		testutil.WaitFor(t, 30*time.Second, "result posts refused during the stop", func() (bool, string) {
			return u.refused.Load() >= 5, fmt.Sprintf("%d refused", u.refused.Load())
		})
		u.down.Store(false)
		for i, c := range calls {
			a := wait(c)
			if a.err != nil || a.res.StatusCode != 200 || a.res.Node != "drain-node" ||
				!strings.Contains(string(a.res.Payload), fmt.Sprintf("RECEIPT order=o-%d", i)) {
				t.Fatalf("invocation %d running while its agent stopped: %v %+v, want its receipt", i, a.err, a.res)
			}
		}
		la := wait(late)
		var ce *client.Error
		if !errors.As(la.err, &ce) || ce.Status != 503 || !strings.Contains(ce.Message, "No agent that runs functions is connected") {
			t.Fatalf("an invocation during the stop: %v %+v, want a 503 saying no agent is connected (the only one is stopping)", la.err, la.res)
		}
		if u.taken.Load() != 4 {
			t.Fatalf("the stopping agent took %d invocations, want the 3 it ran and the one it refused", u.taken.Load())
		}
		t.Logf("the agent stopped %s after the stop began", ended().Sub(stopped).Round(time.Millisecond))
	})

	t.Run("a handler that does not finish is cut off at the stop timeout", func(t *testing.T) {
		u := &unreachableResults{Client: cp.Agent.Clone()}
		stop, ended := startAgent("cutoff-node", u, false, 500*time.Millisecond, 10*time.Second)
		c := invoke(`{"id":"stuck","drink":"tea","price":1,"sleepMs":40000}`)
		taken(u, 1)
		stopped := time.Now()
		stop()
		a := wait(c)
		var ce *client.Error
		if !errors.As(a.err, &ce) || ce.Status != 502 || !strings.Contains(ce.Message, "stop timeout") {
			t.Fatalf("an invocation outliving the agent's stop timeout: %v %+v, want a 502 naming the stop timeout", a.err, a.res)
		}
		// 0.5 s stop timeout: the answer and the stop come long before
		// the handler's 40 s sleep would end (15 s: generous for a busy
		// machine).
		if d := a.at.Sub(stopped); d > 15*time.Second {
			t.Fatalf("the caller waited %s after the stop for its error", d)
		}
		d := ended().Sub(stopped)
		t.Logf("the agent stopped %s after the stop began", d.Round(time.Millisecond))
		if d > 15*time.Second {
			t.Fatalf("the stop took %s with a 0.5 s stop timeout", d)
		}
	})

	t.Run("a server that never takes the results does not hold the stop", func(t *testing.T) {
		u := &unreachableResults{Client: cp.Agent.Clone()}
		// Through the channel form: the other subtests use the direct one.
		stop, ended := startAgent("stuck-server-node", u, true, 30*time.Second, time.Second)
		c := invoke(`{"id":"o-x","drink":"tea","price":1,"sleepMs":300}`)
		taken(u, 1)
		u.down.Store(true)
		stopped := time.Now()
		stop()
		// 0.3 s handler + 1 s flush timeout; 15 s is generous.
		d := ended().Sub(stopped)
		t.Logf("the agent stopped %s after the stop began", d.Round(time.Millisecond))
		if d > 15*time.Second {
			t.Fatalf("the stop took %s with a 1 s flush timeout", d)
		}
		// The result could not be posted: the caller learns the agent went
		// away when its stream closed, instead of waiting for its timeout.
		a := wait(c)
		var ce *client.Error
		if !errors.As(a.err, &ce) || ce.Status != 502 || !strings.Contains(ce.Message, "went away") {
			t.Fatalf("an invocation whose result the server never took: %v %+v, want a 502 saying the agent went away", a.err, a.res)
		}
	})
}

// TestDrainingAgentStaysAlive stops an agent (its Run context ends, as on
// SIGTERM) while an invocation runs for longer than the node TTL: the
// node stays alive (it keeps heartbeating) until the invocation has
// answered, and is lost one TTL after the drain ended, as a node whose
// agent is gone.
func TestDrainingAgentStaysAlive(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "receipt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/apps/receipt").CombinedOutput(); err != nil {
		t.Fatalf("building the receipt handler: %v\n%s", err, out)
	}
	const ttl = 3 * time.Second
	cp := testutil.StartServer(t, func(o *server.Config) { o.NodeTTL = ttl; o.NodeLostGrace = 500 * time.Millisecond })
	ctx := context.Background()
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"receipt","Code":{"ImageUri":"`+bin+`"},"Timeout":60}}`)

	const node = "hb-drain-node"
	u := &unreachableResults{Client: cp.Agent.Clone()}
	actx, stop := context.WithCancel(ctx)
	ag, err := agent.New(agent.Config{NodeName: node, Runtime: fake.New(fake.Config{}), ControlPlane: u,
		Logger: testutil.Logger(), StatsInterval: -1,
		Functions: &agent.FunctionsConfig{Launcher: lambdart.ProcessLauncher{}, ListenAddr: "127.0.0.1:0", RuntimeHost: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		if err := ag.Run(actx); err != nil {
			t.Errorf("agent: %v", err)
		}
		close(done)
	}()
	t.Cleanup(func() { stop(); <-done })
	testutil.WaitFor(t, 30*time.Second, "an invocation through "+node, func() (bool, string) {
		res, err := cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"id":"warm","drink":"tea","price":1}`)})
		if err != nil {
			return false, err.Error()
		}
		return res.Node == node, "answered by " + res.Node
	})
	u.taken.Store(0)
	alive := func() bool {
		ns, err := cp.Admin.ListNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.Name == node {
				return n.Alive
			}
		}
		return false
	}

	// An invocation well over two TTLs long, running when the agent stops.
	answer := make(chan invokeAnswer, 1)
	go func() {
		res, err := cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"id":"long","drink":"tea","price":1,"sleepMs":8000}`)})
		answer <- invokeAnswer{res, err, time.Now()}
	}()
	testutil.WaitFor(t, 20*time.Second, "the invocation started", func() (bool, string) {
		return u.taken.Load() == 1, fmt.Sprintf("%d started", u.taken.Load())
	})
	stopped := time.Now()
	stop()
	var a invokeAnswer
	for a.at.IsZero() {
		select {
		case a = <-answer:
		case <-time.After(100 * time.Millisecond):
			if !alive() {
				t.Fatalf("node %s was declared lost %s after its agent began to drain, while its invocation still ran (node TTL %s)",
					node, time.Since(stopped).Round(time.Millisecond), ttl)
			}
			if time.Since(stopped) > 60*time.Second {
				t.Fatal("the invocation did not end")
			}
		}
	}
	if a.err != nil || a.res.Node != node || !strings.Contains(string(a.res.Payload), "RECEIPT order=long") {
		t.Fatalf("the invocation running while its agent stopped: %v %+v, want its receipt", a.err, a.res)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop after its drain")
	}
	ended := time.Now()
	waitAlive(t, cp, node, false)
	t.Logf("drain %s; node lost %s after the agent stopped", ended.Sub(stopped).Round(time.Millisecond), time.Since(ended).Round(time.Millisecond))
}
