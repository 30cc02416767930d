package function

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// startService runs a service on a fresh embedded store with a queue
// broker that owns the queues; ctx bounds the test.
func startService(t *testing.T, ctx context.Context, retryBase time.Duration) (*Service, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bctx, cancel := context.WithCancel(ctx)
	// Cleanups run last-in first-out: stop the service, then close etcd.
	t.Cleanup(func() { _ = st.Close() })
	t.Cleanup(cancel)
	b := queue.New(st, queue.Options{Logger: log})
	go func() { _ = b.Run(bctx) }()
	for !b.Owned() {
		if ctx.Err() != nil {
			t.Fatal("the broker never owned the queues")
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc := New(Config{Store: st, Queues: b, Logger: log, RetryBase: retryBase})
	go func() { _ = svc.Run(bctx) }()
	// Ready: what the tests do next (create, delete, invoke) is followed.
	select {
	case <-svc.fns.Ready():
	case <-ctx.Done():
		t.Fatal("the function service never became ready")
	}
	return svc, st
}

// TestEventRetriedOnAnotherAgentWhenItsAgentDies: the agent running an
// Event invocation dies without answering; the invocation is retried and
// completes on the other agent, then leaves the store.
func TestEventRetriedOnAnotherAgentWhenItsAgentDies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, st := startService(t, ctx, 50*time.Millisecond)
	if _, err := svc.Create(ctx, model.Function{FunctionName: "f", Code: model.FunctionCode{ImageUri: "img"}}); err != nil {
		t.Fatal(err)
	}
	hub := svc.Hub()
	doomed := hub.Attach("a-doomed")
	took := make(chan string, 1)
	go func() {
		req := <-doomed.Requests() // takes the invocation, then dies
		took <- req.ID
		hub.Detach(doomed)
	}()
	res, err := svc.Invoke(ctx, "f", []byte(`{"order":1}`), Event, false)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("Event: %v %+v", err, res)
	}
	var id string
	select {
	case id = <-took:
	case <-ctx.Done():
		t.Fatal("the first agent never received the invocation")
	}
	if id != res.RequestID {
		t.Fatalf("agent got request %s, want %s", id, res.RequestID)
	}
	survivor := hub.Attach("b-survivor")
	got := make(chan Request, 1)
	go func() {
		for req := range survivor.Requests() {
			if req.Deleted != "" {
				continue
			}
			hub.Complete("b-survivor", req.ID, Result{Payload: []byte(`"done"`)})
			got <- req
			return
		}
	}()
	select {
	case req := <-got:
		if req.ID != res.RequestID || string(req.Payload) != `{"order":1}` {
			t.Fatalf("retried %s %s, want %s with the original payload", req.ID, req.Payload, res.RequestID)
		}
	case <-ctx.Done():
		t.Fatal("the invocation was not retried on the surviving agent")
	}
	for {
		n, err := st.CountAsyncInvocations(ctx, "f")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d Event invocations still stored after success", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeletingAFunctionTellsTheAgents: deleting a function sends every
// attached agent a delete for it (they stop its warm environments).
func TestDeletingAFunctionTellsTheAgents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, _ := startService(t, ctx, time.Second)
	if _, err := svc.Create(ctx, model.Function{FunctionName: "gone", Code: model.FunctionCode{ImageUri: "img"}}); err != nil {
		t.Fatal(err)
	}
	a, b := svc.Hub().Attach("a"), svc.Hub().Attach("b")
	if err := svc.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Conn{a, b} {
		select {
		case req := <-c.Requests():
			if req.Deleted != "gone" {
				t.Fatalf("agent %s got %+v, want the deletion of gone", c.Node(), req)
			}
		case <-ctx.Done():
			t.Fatalf("agent %s was not told the function was deleted", c.Node())
		}
	}
}
