package function

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// ownerSwitch is a real broker whose ownership of each queue (and each
// function's Event invocations) the test decides, as shards moving
// between replicas would.
type ownerSwitch struct {
	*queue.Broker
	mu  sync.Mutex
	own map[string]bool
}

func (o *ownerSwitch) OwnsQueue(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.own[name]
}

// GetQueue answers as the broker does for a queue another replica serves.
func (o *ownerSwitch) GetQueue(ctx context.Context, name string) (*model.Queue, error) {
	if !o.OwnsQueue(name) {
		return nil, &queue.NotOwnerError{Shard: 1, OwnerURL: "https://other:8080"}
	}
	return o.Broker.GetQueue(ctx, name)
}

func (o *ownerSwitch) set(name string, owned bool) {
	o.mu.Lock()
	o.own[name] = owned
	o.mu.Unlock()
}

// fakeAgent answers every invocation with success and records, per
// function, the payloads it received.
type fakeAgent struct {
	mu  sync.Mutex
	got map[string][]string
}

func attachFakeAgent(ctx context.Context, svc *Service, node string) *fakeAgent {
	a := &fakeAgent{got: map[string][]string{}}
	c := svc.Hub().Attach(node)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case req := <-c.Requests():
				if req.Deleted != "" {
					continue
				}
				a.mu.Lock()
				a.got[req.Function.FunctionName] = append(a.got[req.Function.FunctionName], string(req.Payload))
				a.mu.Unlock()
				svc.Hub().Complete(node, req.ID, Result{Payload: []byte(`null`), Node: node})
			}
		}
	}()
	return a
}

func (a *fakeAgent) count(fn string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got[fn])
}

// sourceQueues are the queue ARNs of the SQS events fn received.
func (a *fakeAgent) sourceQueues(fn string) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, p := range a.got[fn] {
		var ev struct {
			Records []struct{ EventSourceARN string }
		}
		_ = json.Unmarshal([]byte(p), &ev)
		for _, r := range ev.Records {
			out[r.EventSourceARN]++
		}
	}
	return out
}

func startSwitchedService(t *testing.T, ctx context.Context) (*Service, *ownerSwitch) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bctx, cancel := context.WithCancel(ctx)
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
	sw := &ownerSwitch{Broker: b, own: map[string]bool{}}
	svc := New(Config{Store: st, Queues: sw, Logger: log, RetryBase: 50 * time.Millisecond})
	go func() { _ = svc.Run(bctx) }()
	return svc, sw
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A mapping's poller runs on the replica owning its queue and starts on
// another when the queue's shard moves there.
func TestMappingPollsOnlyWhereItsQueueIsOwned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, sw := startSwitchedService(t, ctx)
	sw.set("mine", true)
	for q, vis := range map[string]string{"mine": "30", "theirs": "30", "theirs-short": "1"} {
		if _, err := sw.CreateQueue(ctx, q, map[string]string{"VisibilityTimeout": vis}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Create(ctx, model.Function{FunctionName: "f", Code: model.FunctionCode{ImageUri: "img"}, Timeout: 3}); err != nil {
		t.Fatal(err)
	}
	agent := attachFakeAgent(ctx, svc, "a")
	for _, q := range []string{"mine", "theirs"} {
		if _, err := svc.CreateMapping(ctx, model.EventSourceMapping{FunctionName: "f", EventSourceArn: model.QueueArn(model.DefaultRegion, q), BatchSize: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// A queue served elsewhere is checked from its definition in etcd.
	_, err := svc.CreateMapping(ctx, model.EventSourceMapping{FunctionName: "f", EventSourceArn: model.QueueArn(model.DefaultRegion, "theirs-short")})
	if err == nil || !strings.Contains(err.Error(), "visibility timeout") {
		t.Fatalf("a mapping on another replica's queue with a short visibility timeout: %v, want the visibility rule", err)
	}
	mine, theirs := model.QueueArn(model.DefaultRegion, "mine"), model.QueueArn(model.DefaultRegion, "theirs")
	if _, err := sw.SendMessage(ctx, "theirs", queue.SendEntry{Body: `{"id":"t1"}`}); err != nil {
		t.Fatal(err)
	}
	// Two messages one after the other through the owned queue: the
	// mapping loop has looked at both mappings many times by the second.
	for i, body := range []string{`{"id":"m1"}`, `{"id":"m2"}`} {
		if _, err := sw.SendMessage(ctx, "mine", queue.SendEntry{Body: body}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, ctx, "the owned queue's message "+body, func() bool { return agent.sourceQueues("f")[mine] == i+1 })
	}
	if n := agent.sourceQueues("f")[theirs]; n != 0 {
		t.Fatalf("%d batches from a queue another replica owns: its poller must run there only", n)
	}
	attrs, err := sw.GetQueueAttributes(ctx, "theirs", []string{"All"})
	if err != nil {
		t.Fatal(err)
	}
	if attrs["ApproximateNumberOfMessages"] != "1" || attrs["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("the unowned queue: %v, want its message untouched", attrs)
	}
	// The shard moves here: its poller starts and delivers the message.
	sw.set("theirs", true)
	waitUntil(t, ctx, "the message of the queue whose shard moved here", func() bool { return agent.sourceQueues("f")[theirs] == 1 })
	waitUntil(t, ctx, "the delivered message deleted", func() bool {
		a, err := sw.GetQueueAttributes(ctx, "theirs", []string{"All"})
		return err == nil && a["ApproximateNumberOfMessages"] == "0" && a["ApproximateNumberOfMessagesNotVisible"] == "0"
	})
}

// Event invocations are delivered by the replica owning the function's
// shard; another replica takes them over when the shard moves to it.
func TestEventInvocationsRunWhereTheFunctionsShardIsOwned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, sw := startSwitchedService(t, ctx)
	sw.set("owned-fn", true)
	for _, name := range []string{"owned-fn", "other-fn"} {
		if _, err := svc.Create(ctx, model.Function{FunctionName: name, Code: model.FunctionCode{ImageUri: "img"}}); err != nil {
			t.Fatal(err)
		}
	}
	agent := attachFakeAgent(ctx, svc, "a")
	if r, err := svc.Invoke(ctx, "other-fn", []byte(`{"n":1}`), Event, false); err != nil || r.StatusCode != 202 {
		t.Fatalf("Event other-fn: %v %+v", err, r)
	}
	if r, err := svc.Invoke(ctx, "owned-fn", []byte(`{"n":2}`), Event, false); err != nil || r.StatusCode != 202 {
		t.Fatalf("Event owned-fn: %v %+v", err, r)
	}
	waitUntil(t, ctx, "the owned function's Event invocation", func() bool { return agent.count("owned-fn") == 1 })
	if n := agent.count("other-fn"); n != 0 {
		t.Fatalf("another replica's function ran %d times here", n)
	}
	sw.set("other-fn", true)
	waitUntil(t, ctx, "the Event invocation whose shard moved here", func() bool { return agent.count("other-fn") == 1 })
	waitUntil(t, ctx, "both invocations out of the store", func() bool {
		n1, err1 := svc.st.CountAsyncInvocations(ctx, "other-fn")
		n2, err2 := svc.st.CountAsyncInvocations(ctx, "owned-fn")
		return err1 == nil && err2 == nil && n1 == 0 && n2 == 0
	})
}
