package function

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// TestEventInvocationsRetryThenDeadLetter: an Event invocation that fails
// runs three times (the first try and Lambda's two retries), then its
// payload lands in the function's DeadLetterConfig queue and it leaves
// the store; one that succeeds on its second try runs twice.
func TestEventInvocationsRetryThenDeadLetter(t *testing.T) {
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel() // before Close: the service's caches stop first
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := queue.New(st, queue.Options{Logger: log})
	go func() { _ = b.Run(ctx) }()
	for !b.Owned() {
		if ctx.Err() != nil {
			t.Fatal("the broker never owned the queues")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.CreateQueue(ctx, "dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	svc := New(Config{Store: st, Queues: b, Logger: log, RetryBase: 50 * time.Millisecond})
	go func() { _ = svc.Run(ctx) }()

	// A hand-made agent: "always" fails every time, "once" fails the
	// first time only; it counts the attempts per payload.
	var mu sync.Mutex
	attempts := map[string]int{}
	conn := svc.Hub().Attach("hand")
	go func() {
		for req := range conn.Requests() {
			mu.Lock()
			attempts[string(req.Payload)]++
			n := attempts[string(req.Payload)]
			mu.Unlock()
			r := Result{Payload: []byte(`"ok"`)}
			if string(req.Payload) == `"always"` || n == 1 {
				r = Result{Payload: []byte(`{"errorMessage":"no"}`), FunctionError: "Unhandled", ErrorType: "errorString"}
			}
			svc.Hub().Complete("hand", req.ID, r)
		}
	}()
	if _, err := svc.Create(ctx, model.Function{FunctionName: "f", Code: model.FunctionCode{ImageUri: "img"},
		DeadLetterConfig: &model.DeadLetterConfig{TargetArn: model.QueueArn(model.DefaultRegion, "dlq")}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`"always"`, `"once"`} {
		res, err := svc.Invoke(ctx, "f", []byte(p), Event, false)
		if err != nil || res.StatusCode != 202 {
			t.Fatalf("Event %s: %v %+v", p, err, res)
		}
	}
	var dead []queue.ReceivedMessage
	for len(dead) == 0 {
		if ctx.Err() != nil {
			t.Fatal("nothing reached the dead-letter queue")
		}
		w := 1
		dead, err = b.ReceiveMessage(ctx, "dlq", queue.ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &w, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(dead) != 1 || dead[0].Body != `"always"` || dead[0].MessageAttributes["RequestID"].StringValue == "" {
		t.Fatalf("dead letters = %+v, want the failing payload with its RequestID", dead)
	}
	for {
		pending, err := st.ListAsyncInvocations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d Event invocations still stored", len(pending))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts[`"always"`] != model.AsyncMaxAttempts || attempts[`"once"`] != 2 {
		t.Fatalf("attempts = %v, want always:3 (1 + 2 retries), once:2", attempts)
	}
}
