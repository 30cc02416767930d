package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// TestInvocationResultBatches drives the agents' side of invocations by
// hand, as an agent speaks it: the invocation stream, results in batches
// (an unknown or expired id in a batch is skipped, a batch without ids is
// refused with the field named), a stream that breaks mid-invocation (the
// caller fails clearly; the late result is ignored) and a reconnect.
func TestInvocationResultBatches(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"hand","Code":{"ImageUri":"orch-example/receipt"},"Timeout":3}}`)
	node := cp.Agent.Clone()
	if _, err := node.Register(ctx, wire.RegisterRequest{Name: "hand-node", Capacity: model.Resources{CPU: 1000, MemoryMiB: 1024}}); err != nil {
		t.Fatal(err)
	}

	attach := func() (<-chan wire.InvocationEvent, context.CancelFunc) {
		sctx, cancel := context.WithCancel(ctx)
		evs, _ := node.Invocations(sctx, "hand-node")
		testutil.WaitFor(t, 10*time.Second, "the invocation stream attached", func() (bool, string) {
			select {
			case ev := <-evs:
				return ev.Type == wire.InvocationPing, "no ping"
			default:
				return false, "no first line"
			}
		})
		return evs, cancel
	}
	next := func(evs <-chan wire.InvocationEvent) wire.InvocationEvent {
		t.Helper()
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					t.Fatal("the invocation stream ended")
				}
				if ev.Type == wire.InvocationInvoke {
					return ev
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no invocation came on the stream")
			}
		}
	}
	type answer struct {
		res *wire.InvokeResponse
		err error
	}
	invoke := func(payload string) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			res, err := cp.Admin.Invoke(ctx, "hand", wire.InvokeRequest{Payload: json.RawMessage(payload)})
			out <- answer{res, err}
		}()
		return out
	}
	wait := func(c <-chan answer) answer {
		t.Helper()
		select {
		case a := <-c:
			return a
		case <-time.After(20 * time.Second):
			t.Fatal("the invocation did not end")
			return answer{}
		}
	}

	evs, detach := attach()
	// Three invocations answered in one batch, beside an id nobody waits
	// for: all three callers get their own payloads.
	calls := []<-chan answer{invoke(`{"n":0}`), invoke(`{"n":1}`), invoke(`{"n":2}`)}
	var batch []wire.InvocationResult
	for range calls {
		ev := next(evs)
		batch = append(batch, wire.InvocationResult{RequestID: ev.RequestID, Payload: []byte(`{"echo":` + string(ev.Payload) + `}`), DurationMs: 1})
	}
	batch = append(batch, wire.InvocationResult{RequestID: "no-such-invocation", Payload: []byte(`{}`)})
	if err := node.InvocationResults(ctx, "hand-node", batch); err != nil {
		t.Fatalf("a batch with an unknown id: %v, want it taken (the unknown id skipped)", err)
	}
	for i, c := range calls {
		a := wait(c)
		if a.err != nil || a.res.StatusCode != 200 || string(a.res.Payload) != fmt.Sprintf(`{"echo":{"n":%d}}`, i) || a.res.Node != "hand-node" {
			t.Fatalf("invocation %d: %v %+v", i, a.err, a.res)
		}
	}

	// A result without its request id is refused and says which one.
	err := node.InvocationResults(ctx, "hand-node", []wire.InvocationResult{{RequestID: "x"}, {Payload: []byte(`{}`)}})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, "results[1].requestId") {
		t.Fatalf("a result without requestId: %v, want a 400 naming results[1].requestId", err)
	}
	// Another node cannot answer this node's invocations.
	other := cp.Agent.Clone()
	if _, err := other.Register(ctx, wire.RegisterRequest{Name: "other-node", Capacity: model.Resources{CPU: 1000, MemoryMiB: 1024}}); err != nil {
		t.Fatal(err)
	}
	if err := other.InvocationResults(ctx, "hand-node", []wire.InvocationResult{{RequestID: "x"}}); !errors.As(err, &ce) || ce.Status != 403 {
		t.Fatalf("another node's token posting results for hand-node: %v, want 403", err)
	}

	// The stream breaks while an invocation runs: the caller fails
	// saying the agent went away; the result arriving later is ignored.
	c := invoke(`{"slow":true}`)
	ev := next(evs)
	detach()
	a := wait(c)
	if !errors.As(a.err, &ce) || ce.Status != 502 || !strings.Contains(ce.Message, "went away") {
		t.Fatalf("invocation whose agent's stream broke: %v %+v, want a 502 saying the agent went away", a.err, a.res)
	}
	if err := node.InvocationResults(ctx, "hand-node", []wire.InvocationResult{{RequestID: ev.RequestID, Payload: []byte(`{"late":1}`)}}); err != nil {
		t.Fatalf("a late result: %v, want it skipped quietly", err)
	}

	// The agent reconnects: invocations flow again, and the one-by-one
	// result endpoint (older agents) still answers them.
	evs, detach = attach()
	defer detach()
	c = invoke(`{"again":1}`)
	ev = next(evs)
	if err := node.InvocationResult(ctx, "hand-node", ev.RequestID, wire.InvocationResult{Payload: []byte(`{"ok":1}`)}); err != nil {
		t.Fatal(err)
	}
	if a := wait(c); a.err != nil || string(a.res.Payload) != `{"ok":1}` {
		t.Fatalf("after the reconnect: %v %+v", a.err, a.res)
	}
}

// TestInvocationResultsDuringEtcdOutage: results only hand an answer to
// a caller waiting in the server's memory, so while etcd is away (writes
// refused with 503) an agent's result still reaches its caller instead of
// the invocation waiting out its timeout.
func TestInvocationResultsDuringEtcdOutage(t *testing.T) {
	etcdURL, etcd := startEtcd(t)
	cp := testutil.StartServer(t, func(c *server.Config) { c.EtcdEndpoints = []string{etcdURL} })
	ctx := context.Background()
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"outage","Code":{"ImageUri":"orch-example/receipt"},"Timeout":60}}`)
	node := cp.Agent.Clone()
	if _, err := node.Register(ctx, wire.RegisterRequest{Name: "outage-node", Capacity: model.Resources{CPU: 1000, MemoryMiB: 1024}}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, _ := node.Invocations(sctx, "outage-node")
	testutil.WaitFor(t, 10*time.Second, "the invocation stream attached", func() (bool, string) {
		select {
		case ev := <-evs:
			return ev.Type == wire.InvocationPing, "no ping"
		default:
			return false, "no first line"
		}
	})
	type answer struct {
		res *wire.InvokeResponse
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := cp.Admin.Invoke(ctx, "outage", wire.InvokeRequest{Payload: json.RawMessage(`{"n":7}`)})
		done <- answer{res, err}
	}()
	var id string
	for id == "" {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("the invocation stream ended")
			}
			if ev.Type == wire.InvocationInvoke {
				id = ev.RequestID
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no invocation came on the stream")
		}
	}

	if err := etcd.Signal(syscall.SIGSTOP); err != nil { // etcd hangs: no answer, no error
		t.Fatal(err)
	}
	defer etcd.Signal(syscall.SIGCONT)
	testutil.WaitFor(t, 15*time.Second, "/readyz to report the outage", func() (bool, string) {
		code := getJSON(t, cp, "/readyz", nil)
		return code == 503, fmt.Sprint(code)
	})
	if err := node.InvocationResults(ctx, "outage-node", []wire.InvocationResult{{RequestID: id, Payload: []byte(`{"ok":7}`), DurationMs: 1}}); err != nil {
		t.Fatalf("posting a result while etcd is away: %v, want it taken (nothing to write)", err)
	}
	select {
	case a := <-done:
		if a.err != nil || a.res.StatusCode != 200 || string(a.res.Payload) != `{"ok":7}` {
			t.Fatalf("the caller during the outage: %v %+v, want 200 with the agent's payload", a.err, a.res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the caller got no answer while etcd was away")
	}
}
