package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// testStore is one embedded etcd for the package's tests (each test uses
// queue names of its own); TestMain opens it.
var testStore *store.Store

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "orch-queue-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "opening the test store:", err)
		return 1
	}
	defer st.Close()
	// Take and give up a lease once, so that etcd's own goroutines (its
	// listeners, the client's connection and lease machinery) are all
	// running before any test takes its goroutine snapshot.
	l, err := st.Campaign(ctx, "warm-up", "test", 5)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warming the test store up:", err)
		return 1
	}
	_ = l.Resign(ctx)
	testStore = st
	return m.Run()
}

// newTestBroker starts a broker on the test store with a fake clock, and
// waits until it owns the queues (setup runs before the broker starts).
// When the test ends it stops the broker and checks that no goroutine the
// broker started is left.
func newTestBroker(t *testing.T, setup ...func(*Broker)) (*Broker, *fakeClock) {
	t.Helper()
	st := testStore
	// Goroutines of etcd and its client that exist before the broker
	// starts are not the broker's.
	before := parseStacks(t, goleak.IgnoreCurrent)
	clock := newFakeClock()
	b := New(st, Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LogDir: testLogDir(t)})
	for _, f := range setup {
		f(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		// The store outlives the test (and -count repeats it): leave no
		// queue behind for the next broker to load.
		names, err := b.ListQueues(context.Background(), "")
		if err != nil {
			t.Errorf("listing the test's queues: %v", err)
		}
		for _, n := range names {
			if err := b.DeleteQueue(context.Background(), n); err != nil {
				t.Errorf("deleting queue %s: %v", n, err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		if err := parseStacks(t, func() error { return goleak.Find(append(etcdLoops, before)...) }); err != nil {
			t.Error(err)
		}
	})
	eventually(t, "the broker owns the queues", b.Owned)
	return b, clock
}

// testLogDir is where a test broker keeps its queue logs: the local store
// by default; ORCH_QUEUE_STORE=etcd runs the same tests with the messages
// in etcd (make test runs both).
func testLogDir(t testing.TB) string {
	if os.Getenv("ORCH_QUEUE_STORE") == "etcd" {
		return ""
	}
	return t.TempDir()
}

// etcdLoops are goroutines of the store's etcd client and embedded server
// that may start after a test's snapshot: the keep-alive stream (client and
// server side) restarts when a new lease is kept alive, such as the
// ownership campaign's, and the embedded server's listeners start serving a
// moment after store.Open returns. They belong to the store, not to the
// broker.
var etcdLoops = []goleak.Option{
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/v3.(*lessor).recvKeepAliveLoop"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/v3.(*lessor).sendKeepAliveLoop"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/v3.(*lessor).deadlineLoop"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.(*LeaseServer).LeaseKeepAlive"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.(*LeaseServer).leaseKeepAlive"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/embed.(*serveCtx).startHandler.func1"),
	// Started with the gRPC server of a listener as it starts serving; it
	// lives as long as the etcd server.
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.monitorLeader.func1"),
}

// parseStacks runs a goleak call, again if it panics on a stack it cannot
// parse: goleak v1.3.0 does not understand the "...N frames elided..."
// line Go writes for stacks over 100 frames, and some goroutine of etcd
// is that deep now and then, for a moment.
func parseStacks[T any](t *testing.T, f func() T) T {
	t.Helper()
	for attempt := 1; ; attempt++ {
		v, ok := func() (v T, ok bool) {
			defer func() {
				if p := recover(); p != nil {
					if attempt == 100 {
						panic(p)
					}
					ok = false
				}
			}()
			return f(), true
		}()
		if ok {
			return v
		}
		runtime.Gosched()
	}
}

// eventually polls cond until it holds or 10 seconds pass (real time: it
// waits for goroutines and etcd, not for the broker's clock).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func intp(n int) *int { return &n }

func mustCreate(t *testing.T, b *Broker, name string, attrs map[string]string) {
	t.Helper()
	if _, err := b.CreateQueue(context.Background(), name, attrs, nil); err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
}

func mustSend(t *testing.T, b *Broker, name string, e SendEntry) *SendResult {
	t.Helper()
	r, err := b.SendMessage(context.Background(), name, e)
	if err != nil {
		t.Fatalf("SendMessage(%s, %q): %v", name, e.Body, err)
	}
	return r
}

// receive takes up to max messages without waiting, visible again after vis.
func receive(t *testing.T, b *Broker, name string, max, vis int) []ReceivedMessage {
	t.Helper()
	ms, err := b.ReceiveMessage(context.Background(), name, ReceiveInput{
		MaxNumberOfMessages: max, WaitTimeSeconds: intp(0), VisibilityTimeout: intp(vis), AttributeNames: []string{"All"}})
	if err != nil {
		t.Fatalf("ReceiveMessage(%s): %v", name, err)
	}
	return ms
}

func bodies(ms []ReceivedMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// step is one move in a scenario: advance the clock, then do something and
// check what a consumer would see.
type step struct {
	advance time.Duration
	do      string // "send BODY", "send-group GROUP BODY", "receive", "delete-first"
	want    []string
	// receive count of the first message received (0: not checked)
	wantCount int
}

// TestBrokerSemantics runs scenarios against one queue each: the table
// says what a consumer sees as the clock moves.
func TestBrokerSemantics(t *testing.T) {
	tests := []struct {
		name  string
		queue string
		attrs map[string]string
		// vis is the VisibilityTimeout each receive asks for.
		vis   int
		steps []step
	}{
		{
			name: "a received message is hidden until its visibility timeout ends", queue: "vis", vis: 30,
			steps: []step{
				{do: "send a"},
				{do: "receive", want: []string{"a"}, wantCount: 1},
				{do: "receive", want: []string{}},
				{advance: 29 * time.Second, do: "receive", want: []string{}},
				{advance: time.Second, do: "receive", want: []string{"a"}, wantCount: 2},
				{advance: 30 * time.Second, do: "receive", want: []string{"a"}, wantCount: 3},
			},
		},
		{
			name: "a deleted message does not come back", queue: "del", vis: 10,
			steps: []step{
				{do: "send a"},
				{do: "receive", want: []string{"a"}},
				{do: "delete-first"},
				{advance: time.Minute, do: "receive", want: []string{}},
			},
		},
		{
			name: "the queue's delay hides new messages", queue: "delayed", vis: 30,
			attrs: map[string]string{model.QADelaySeconds: "10"},
			steps: []step{
				{do: "send a"},
				{do: "receive", want: []string{}},
				{advance: 9 * time.Second, do: "receive", want: []string{}},
				{advance: time.Second, do: "receive", want: []string{"a"}, wantCount: 1},
			},
		},
		{
			name: "a message past the retention period is gone", queue: "retention", vis: 30,
			attrs: map[string]string{model.QAMessageRetentionPeriod: "60"},
			steps: []step{
				{do: "send a"},
				{advance: 59 * time.Second, do: "send b"},
				{advance: 2 * time.Second, do: "receive", want: []string{"b"}},
			},
		},
		{
			name: "a FIFO group is blocked while a message of it is in flight", queue: "orders.fifo", vis: 30,
			attrs: map[string]string{model.QAFifoQueue: "true", model.QAContentBasedDeduplication: "true"},
			steps: []step{
				{do: "send-group g1 a"},
				{do: "send-group g1 b"},
				{do: "send-group g2 c"},
				{do: "receive-1", want: []string{"a"}},
				{do: "receive-1", want: []string{"c"}},
				{do: "receive", want: []string{}},
				{do: "delete-first"}, // c
				{do: "receive", want: []string{}},
				{advance: 30 * time.Second, do: "receive-1", want: []string{"a"}, wantCount: 2},
				{do: "delete-first"},
				{do: "receive", want: []string{"b"}},
			},
		},
		{
			name: "a FIFO duplicate within five minutes is dropped", queue: "dedup.fifo", vis: 1,
			attrs: map[string]string{model.QAFifoQueue: "true", model.QAContentBasedDeduplication: "true"},
			steps: []step{
				{do: "send-group g a"},
				{advance: 4 * time.Minute, do: "send-group g a"},
				{do: "receive", want: []string{"a"}},
				{do: "delete-first"},
				{advance: time.Minute, do: "send-group g a"},
				{do: "receive", want: []string{"a"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clock := newTestBroker(t)
			ctx := context.Background()
			mustCreate(t, b, tc.queue, tc.attrs)
			var last []ReceivedMessage
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				var got []ReceivedMessage
				fields := strings.Fields(s.do)
				switch fields[0] {
				case "send":
					mustSend(t, b, tc.queue, SendEntry{Body: fields[1]})
					continue
				case "send-group":
					mustSend(t, b, tc.queue, SendEntry{GroupID: fields[1], Body: fields[2]})
					continue
				case "delete-first":
					if len(last) == 0 {
						t.Fatalf("step %d: nothing received to delete", i)
					}
					if err := b.DeleteMessage(ctx, tc.queue, last[0].ReceiptHandle); err != nil {
						t.Fatalf("step %d: DeleteMessage: %v", i, err)
					}
					last = last[1:]
					continue
				case "receive":
					got = receive(t, b, tc.queue, 10, tc.vis)
				case "receive-1":
					got = receive(t, b, tc.queue, 1, tc.vis)
				default:
					t.Fatalf("step %d: unknown step %q", i, s.do)
				}
				if !equal(bodies(got), s.want) {
					t.Fatalf("step %d (%s after +%v): got %q, want %q", i, s.do, s.advance, bodies(got), s.want)
				}
				if s.wantCount > 0 {
					if c := got[0].Attributes["ApproximateReceiveCount"]; c != strconv.Itoa(s.wantCount) {
						t.Fatalf("step %d: ApproximateReceiveCount = %s, want %d", i, c, s.wantCount)
					}
				}
				if len(got) > 0 {
					last = got
				}
			}
		})
	}
}

// TestRedriveAfterMaxReceiveCount: a message received maxReceiveCount times
// moves to the dead-letter queue on the next receive, and remembers where
// it came from.
func TestRedriveAfterMaxReceiveCount(t *testing.T) {
	b, clock := newTestBroker(t)
	mustCreate(t, b, "dlq", nil)
	policy := `{"deadLetterTargetArn":"` + model.QueueArn(b.Region(), "dlq") + `","maxReceiveCount":2}`
	mustCreate(t, b, "work", map[string]string{model.QARedrivePolicy: policy})
	mustSend(t, b, "work", SendEntry{Body: "poison"})
	for i := 1; i <= 2; i++ {
		if got := bodies(receive(t, b, "work", 1, 10)); !equal(got, []string{"poison"}) {
			t.Fatalf("receive %d from work = %q, want [poison]", i, got)
		}
		clock.Advance(10 * time.Second)
	}
	if got := bodies(receive(t, b, "work", 1, 10)); len(got) != 0 {
		t.Fatalf("third receive from work = %q, want nothing (moved to the dead-letter queue)", got)
	}
	// The dead-letter queue may be in another shard: the move reaches it
	// through that shard's inbox, a moment later.
	var got []ReceivedMessage
	eventually(t, "the message in the dead-letter queue", func() bool {
		got = receive(t, b, "dlq", 1, 10)
		return len(got) > 0
	})
	if !equal(bodies(got), []string{"poison"}) {
		t.Fatalf("receive from dlq = %q, want [poison]", bodies(got))
	}
	if src, want := got[0].Attributes["DeadLetterQueueSourceArn"], model.QueueArn(b.Region(), "work"); src != want {
		t.Fatalf("DeadLetterQueueSourceArn = %q, want %q", src, want)
	}
	if c := got[0].Attributes["ApproximateReceiveCount"]; c != "3" {
		t.Fatalf("ApproximateReceiveCount in the dead-letter queue = %s, want 3 (counts carry over)", c)
	}
}

// TestLongPollWakesOnSend: a receive waiting for messages returns as soon
// as one is sent, without the clock moving; one that gets none returns
// empty when its wait ends.
func TestLongPollWakesOnSend(t *testing.T) {
	b, clock := newTestBroker(t)
	mustCreate(t, b, "poll", nil)
	type result struct {
		ms  []ReceivedMessage
		err error
	}
	longPoll := func() chan result {
		before := clock.waiting()
		ch := make(chan result, 1)
		go func() {
			ms, err := b.ReceiveMessage(context.Background(), "poll", ReceiveInput{WaitTimeSeconds: intp(20)})
			ch <- result{ms, err}
		}()
		eventually(t, "the receive waits", func() bool { return clock.waiting() > before })
		return ch
	}

	ch := longPoll()
	mustSend(t, b, "poll", SendEntry{Body: "wake"})
	r := <-ch
	if r.err != nil || !equal(bodies(r.ms), []string{"wake"}) {
		t.Fatalf("long poll = %q, %v; want [wake], nil", bodies(r.ms), r.err)
	}

	ch = longPoll()
	clock.Advance(20 * time.Second)
	r = <-ch
	if r.err != nil || len(r.ms) != 0 {
		t.Fatalf("long poll past its wait = %q, %v; want nothing, nil", bodies(r.ms), r.err)
	}
}

// TestSweeperDeletesExpiredMessages: the sweeper removes messages past
// retention without anyone receiving.
func TestSweeperDeletesExpiredMessages(t *testing.T) {
	b, clock := newTestBroker(t)
	mustCreate(t, b, "swept", map[string]string{model.QAMessageRetentionPeriod: "60"})
	mustSend(t, b, "swept", SendEntry{Body: "old"})
	eventually(t, "the sweeper deletes the expired message", func() bool {
		// Past retention, and past the sweeper's next tick: advanced at
		// every look, because the shard's owner (and its sweeper) may
		// start waiting on the clock only after an earlier advance.
		clock.Advance(61 * time.Second)
		st, err := b.QueueStats(context.Background(), "swept")
		return err == nil && st[0].Visible == 0
	})
}

// TestErrorKinds: failures carry neutral kinds a protocol adapter maps.
func TestErrorKinds(t *testing.T) {
	b, _ := newTestBroker(t)
	ctx := context.Background()
	mustCreate(t, b, "q", nil)
	tests := []struct {
		name string
		call func() error
		want Kind
	}{
		{"missing queue", func() error { _, err := b.GetQueue(ctx, "nope"); return err }, KindNoSuchQueue},
		{"empty body", func() error { _, err := b.SendMessage(ctx, "q", SendEntry{}); return err }, KindMissingParameter},
		{"delay out of range", func() error {
			_, err := b.SendMessage(ctx, "q", SendEntry{Body: "x", DelaySeconds: intp(901)})
			return err
		}, KindInvalidParameter},
		{"bad receipt handle", func() error { return b.DeleteMessage(ctx, "q", "garbage") }, KindInvalidReceiptHandle},
		{"empty batch", func() error { _, _, err := b.SendMessageBatch(ctx, "q", nil); return err }, KindEmptyBatch},
		{"unknown attribute", func() error { return b.SetQueueAttributes(ctx, "q", map[string]string{"Bogus": "1"}) }, KindUnknownAttribute},
		{"other attributes", func() error {
			_, err := b.CreateQueue(ctx, "q", map[string]string{model.QAVisibilityTimeout: "5"}, nil)
			return err
		}, KindQueueExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if got := KindOf(err); got != tc.want {
				t.Fatalf("kind of %v = %v, want %v", err, got, tc.want)
			}
			var qe *Error
			if !errors.As(err, &qe) || qe.Message == "" {
				t.Fatalf("error %v is not a *queue.Error with a message", err)
			}
		})
	}
}

// TestMoveTask: a move task keeps to its rate on the broker's clock, can be
// cancelled, and a task still running when the broker stops ends with it
// (the leak check of newTestBroker).
func TestMoveTask(t *testing.T) {
	b, clock := newTestBroker(t)
	ctx := context.Background()
	mustCreate(t, b, "moves-dlq", nil)
	dlqArn, workArn := model.QueueArn(b.Region(), "moves-dlq"), model.QueueArn(b.Region(), "moves-work")
	mustCreate(t, b, "moves-work", map[string]string{model.QARedrivePolicy: `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":5}`})
	for _, body := range []string{"a", "b", "c", "d"} {
		mustSend(t, b, "moves-dlq", SendEntry{Body: body})
	}
	status := func() MoveTask {
		ts, err := b.ListMessageMoveTasks(ctx, dlqArn, 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("ListMessageMoveTasks = %v, %v; want one task", ts, err)
		}
		return ts[0]
	}

	handle, err := b.StartMessageMoveTask(ctx, dlqArn, workArn, 1)
	if err != nil {
		t.Fatalf("StartMessageMoveTask: %v", err)
	}
	eventually(t, "the first message moves at once", func() bool { return status().ApproximateNumberOfMessagesMoved == 1 })
	clock.Advance(time.Second)
	eventually(t, "a second message moves a second later", func() bool { return status().ApproximateNumberOfMessagesMoved == 2 })
	if n, err := b.CancelMessageMoveTask(ctx, handle); err != nil || n != 2 {
		t.Fatalf("CancelMessageMoveTask = %d, %v; want 2, nil", n, err)
	}
	eventually(t, "the task is cancelled", func() bool { return status().Status == MoveCancelled })
	// The queues may be in different shards: moved messages then reach
	// moves-work through its shard's inbox, a moment later.
	var got []string
	eventually(t, "both moved messages in moves-work", func() bool {
		got = append(got, bodies(receive(t, b, "moves-work", 10, 30))...)
		return len(got) >= 2
	})
	if !equal(got, []string{"a", "b"}) {
		t.Fatalf("moved messages = %q, want [a b]", got)
	}

	// Left running: stopping the broker must end it.
	if _, err := b.StartMessageMoveTask(ctx, dlqArn, workArn, 1); err != nil {
		t.Fatalf("StartMessageMoveTask again: %v", err)
	}
	eventually(t, "the second task moves a message", func() bool { return status().ApproximateNumberOfMessagesMoved == 1 })
}

// TestReceiveMessageAttributesMD5: a receive of every message attribute
// answers the MD5 the send computed (stored with the message), one of some
// of them the MD5 of those; both as SQS computes it.
func TestReceiveMessageAttributesMD5(t *testing.T) {
	b, clock := newTestBroker(t)
	mustCreate(t, b, "attrs", nil)
	attrs := map[string]model.MessageAttributeValue{
		"shop":  {DataType: "String", StringValue: "north"},
		"count": {DataType: "Number", StringValue: "3"},
		"blob":  {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
	}
	sent := mustSend(t, b, "attrs", SendEntry{Body: "latte", Attributes: attrs})
	if sent.MD5OfAttributes != MD5OfAttributes(attrs) {
		t.Fatalf("send MD5 = %s, want %s", sent.MD5OfAttributes, MD5OfAttributes(attrs))
	}
	for _, c := range []struct {
		names []string
		want  map[string]model.MessageAttributeValue
	}{
		{[]string{"All"}, attrs},
		{[]string{".*"}, attrs},
		{[]string{"shop", "count", "blob"}, attrs},
		{[]string{"shop"}, map[string]model.MessageAttributeValue{"shop": attrs["shop"]}},
		{[]string{"count", "blob"}, map[string]model.MessageAttributeValue{"count": attrs["count"], "blob": attrs["blob"]}},
	} {
		ms, err := b.ReceiveMessage(context.Background(), "attrs", ReceiveInput{MaxNumberOfMessages: 1, WaitTimeSeconds: intp(0),
			VisibilityTimeout: intp(1), MessageAttributeNames: c.names})
		if err != nil || len(ms) != 1 {
			t.Fatalf("receive %v: %v %v", c.names, ms, err)
		}
		if got, want := ms[0].MD5OfMessageAttributes, MD5OfAttributes(c.want); got != want || len(ms[0].MessageAttributes) != len(c.want) {
			t.Fatalf("receive %v: MD5 %s of %d attributes, want %s of %d", c.names, got, len(ms[0].MessageAttributes), want, len(c.want))
		}
		clock.Advance(2 * time.Second)
	}
}
