package topic

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// testStore is one embedded etcd for the package's tests; each test uses
// topic names of its own and deletes its topics.
var testStore *store.Store

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "orch-topic-test-")
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
	l, err := st.Campaign(ctx, "warm-up", "test", 5)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warming the test store up:", err)
		return 1
	}
	_ = l.Resign(ctx)
	testStore = st
	return m.Run()
}

// fakeOwner owns the topics through a real etcd election, so commits
// carry a real guard.
type fakeOwner struct {
	guard *store.Guard
	ch    chan struct{}
}

func (f *fakeOwner) Ownership() (*store.Guard, <-chan struct{}) { return f.guard, f.ch }
func (f *fakeOwner) OwnerURL(context.Context) (string, error)   { return "", nil }
func (f *fakeOwner) SelfURL() string                            { return "" }

// fakeQueues records what was sent, per queue, and fails sends to queues
// a test marks.
type fakeQueues struct {
	mu      sync.Mutex
	sent    map[string][]queue.SendEntry
	missing map[string]bool // answer "no such queue"
	down    map[string]bool // answer "unavailable"
}

func newFakeQueues() *fakeQueues {
	return &fakeQueues{sent: map[string][]queue.SendEntry{}, missing: map[string]bool{}, down: map[string]bool{}}
}

func (f *fakeQueues) SendMessage(_ context.Context, name string, e queue.SendEntry) (*queue.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing[name] {
		return nil, queue.ErrQueueDoesNotExist
	}
	if f.down[name] {
		return nil, queue.ErrServiceUnavailable
	}
	f.sent[name] = append(f.sent[name], e)
	return &queue.SendResult{MessageID: newID()}, nil
}

func (f *fakeQueues) SendEachEarly(ctx context.Context, es []queue.QueueEntry) func() []error {
	errs := f.sendEach(ctx, es)
	return func() []error { return errs }
}

func (f *fakeQueues) sendEach(ctx context.Context, es []queue.QueueEntry) []error {
	var errs []error
	for i, e := range es {
		if _, err := f.SendMessage(ctx, e.Queue, e.SendEntry); err != nil {
			if errs == nil {
				errs = make([]error, len(es))
			}
			errs[i] = err
		}
	}
	return errs
}

func (f *fakeQueues) got(name string) []queue.SendEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]queue.SendEntry(nil), f.sent[name]...)
}

func (f *fakeQueues) set(m map[string]bool, name string, v bool) {
	f.mu.Lock()
	m[name] = v
	f.mu.Unlock()
}

// fakeClock moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	at     time.Time
	f      func()
	active bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) queue.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.at, t.active = t.c.now.Add(d), true
	if !was {
		t.c.timers = append(t.c.timers, t)
	}
	return was
}

// Advance moves the clock and runs every timer due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, keep []*fakeTimer
	for _, t := range c.timers {
		switch {
		case !t.active:
		case !t.at.After(c.now):
			t.active = false
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active {
			n++
		}
	}
	return n
}

var etcdLoops = []goleak.Option{
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/v3.(*lessor).recvKeepAliveLoop"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/v3.(*lessor).sendKeepAliveLoop"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/v3.(*lessor).deadlineLoop"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.(*LeaseServer).LeaseKeepAlive"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.(*LeaseServer).leaseKeepAlive"),
	goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/embed.(*serveCtx).startHandler.func1"),
}

// parseStacks retries a goleak call that panics on a stack goleak v1.3.0
// cannot parse ("...N frames elided...", deep etcd stacks now and then).
func parseStacks[T any](f func() T) T {
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

// env is one test's topic service on the shared store.
type env struct {
	t      testing.TB
	s      *Service
	q      *fakeQueues
	clock  *fakeClock
	owner  *fakeOwner
	fns    FunctionInvoker // lambda subscriptions' hook (nil: none)
	stopFn func()
	// functions is Options.Functions at the next start.
	functions FunctionInvoker
}

var electionSeq int

// newEnv starts a Service owning the topics; at the end of the test it
// deletes the test's topics, stops the service and checks for leaked
// goroutines.
func newEnv(t testing.TB) *env {
	t.Helper()
	before := parseStacks(goleak.IgnoreCurrent)
	electionSeq++
	l, err := testStore.Campaign(context.Background(), fmt.Sprintf("topic-test-%d-%d", os.Getpid(), electionSeq), "test", 5)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, q: newFakeQueues(), clock: newFakeClock(), owner: &fakeOwner{guard: l.Guard(), ch: make(chan struct{})}}
	e.start()
	t.Cleanup(func() {
		if e.s != nil {
			ctx := context.Background()
			arns, _ := e.s.ListTopics(ctx)
			for _, a := range arns {
				if err := e.s.DeleteTopic(ctx, a); err != nil {
					t.Errorf("deleting %s: %v", a, err)
				}
			}
			e.stop()
		}
		_ = l.Resign(context.Background())
		if err := parseStacks(func() error { return goleak.Find(append(etcdLoops, before)...) }); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) start() {
	fns := e.functions
	if fns == nil {
		fns = e.fns
	}
	e.s = New(testStore, Options{Ownership: e.owner, Queues: e.q, Clock: e.clock, BaseURL: "http://orch.test", Functions: fns,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.s.Run(ctx); close(done) }()
	e.stopFn = func() { cancel(); <-done }
	eventually(e.t, "the service serves the topics", e.s.Owned)
}

func (e *env) stop() {
	e.stopFn()
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) topic(name string, attrs map[string]string) string {
	e.t.Helper()
	arn, err := e.s.CreateTopic(context.Background(), name, attrs, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return arn
}

func (e *env) subscribe(topicArn, q string, attrs map[string]string) string {
	e.t.Helper()
	arn, _, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: topicArn, Protocol: "sqs",
		Endpoint: model.QueueArn(model.DefaultRegion, q), Attributes: attrs})
	if err != nil {
		e.t.Fatal(err)
	}
	return arn
}

func (e *env) publish(topicArn string, in PublishInput) *PublishResult {
	e.t.Helper()
	r, err := e.s.Publish(context.Background(), topicArn, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) info(topicArn, subArn string) SubscriptionInfo {
	subs, err := e.s.ListSubscriptions(context.Background(), topicArn)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range subs {
		if s.Arn == subArn {
			return s
		}
	}
	e.t.Fatalf("no subscription %s", subArn)
	return SubscriptionInfo{}
}

func (e *env) stored(topicName string) int {
	ts, _ := testStore.ListTopics(context.Background())
	for _, t := range ts {
		if t.Name == topicName {
			ms, err := testStore.LoadTopicMessages(context.Background(), t.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			return len(ms)
		}
	}
	return 0
}

func TestFanOutEnvelopeAndRaw(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-fanout", nil)
	e.subscribe(arn, "fan-a", nil)
	e.subscribe(arn, "fan-b", nil)
	e.subscribe(arn, "fan-raw", map[string]string{"RawMessageDelivery": "true"})
	attrs := map[string]model.MessageAttributeValue{"kind": {DataType: "String", StringValue: "coupon"}, "bin": {DataType: "Binary", BinaryValue: []byte{1, 2}}}
	r := e.publish(arn, PublishInput{Message: `latte <&> "50%"`, Subject: "deal", Attributes: attrs})
	eventually(t, "every queue got the message", func() bool {
		return len(e.q.got("fan-a")) == 1 && len(e.q.got("fan-b")) == 1 && len(e.q.got("fan-raw")) == 1
	})
	var env map[string]any
	if err := json.Unmarshal([]byte(e.q.got("fan-a")[0].Body), &env); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"Type": "Notification", "MessageId": r.MessageID, "TopicArn": arn, "Subject": "deal",
		"Message": `latte <&> "50%"`, "Timestamp": "2026-01-02T03:04:05.000Z"} {
		if env[k] != want {
			t.Errorf("envelope %s = %v, want %v", k, env[k], want)
		}
	}
	if !strings.HasPrefix(env["UnsubscribeURL"].(string), "http://orch.test/?Action=Unsubscribe&SubscriptionArn=arn%3Aaws%3Asns%3A") {
		t.Errorf("UnsubscribeURL = %v", env["UnsubscribeURL"])
	}
	ma := env["MessageAttributes"].(map[string]any)
	if k := ma["kind"].(map[string]any); k["Type"] != "String" || k["Value"] != "coupon" {
		t.Errorf("MessageAttributes.kind = %v", k)
	}
	if b := ma["bin"].(map[string]any); b["Type"] != "Binary" || b["Value"] != "AQI=" {
		t.Errorf("MessageAttributes.bin = %v (binary values are base64)", b)
	}
	checkSignature(t, e.s, env)
	raw := e.q.got("fan-raw")[0]
	if raw.Body != `latte <&> "50%"` || raw.Attributes["kind"].StringValue != "coupon" {
		t.Errorf("raw delivery: body %q attributes %v, want the bare message and its attributes", raw.Body, raw.Attributes)
	}
	eventually(t, "the delivered message's record is deleted", func() bool { return e.stored("t-fanout") == 0 })
}

func TestRetryThenDeadLetterWithPolicy(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-dlq", nil)
	e.q.set(e.q.missing, "gone", true)
	sub := e.subscribe(arn, "gone", map[string]string{
		"RedrivePolicy":  `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:gone-dlq"}`,
		"DeliveryPolicy": `{"healthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":5,"numRetries":2}}`,
	})
	e.publish(arn, PublishInput{Message: "m1"})
	for attempt := 1; attempt <= 2; attempt++ {
		eventually(t, fmt.Sprintf("attempt %d failed and a retry waits", attempt), func() bool {
			return e.info(arn, sub).Failures == int64(attempt) && e.clock.waiting() == 1
		})
		if len(e.q.got("gone-dlq")) != 0 {
			t.Fatalf("dead-lettered after %d attempts; the policy allows 2 retries", attempt)
		}
		e.clock.Advance(5 * time.Second)
	}
	eventually(t, "the message is in the dead-letter queue", func() bool { return len(e.q.got("gone-dlq")) == 1 })
	dl := e.q.got("gone-dlq")[0]
	if dl.Attributes["ErrorCode"].StringValue != "QueueDoesNotExist" || !strings.Contains(dl.Body, `"Message":"m1"`) {
		t.Errorf("dead letter: body %s attributes %v", dl.Body, dl.Attributes)
	}
	in := e.info(arn, sub)
	if in.Failures != 3 || in.DeadLettered != 1 || in.Delivered != 0 || in.Pending != 0 {
		t.Errorf("counters: %+v; want 3 failures, 1 dead-lettered, none pending", in)
	}
	eventually(t, "the record is deleted", func() bool { return e.stored("t-dlq") == 0 })
}

func TestPermanentFailureDeadLettersAtOnceWithoutPolicy(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-dlq-now", nil)
	e.q.set(e.q.missing, "gone2", true)
	sub := e.subscribe(arn, "gone2", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq2"}`})
	healthy := e.subscribe(arn, "fine2", nil)
	e.publish(arn, PublishInput{Message: "m"})
	eventually(t, "dead-lettered and delivered", func() bool {
		return len(e.q.got("dlq2")) == 1 && len(e.q.got("fine2")) == 1
	})
	if in := e.info(arn, sub); in.Failures != 1 || in.DeadLettered != 1 {
		t.Errorf("failing subscription: %+v", in)
	}
	if in := e.info(arn, healthy); in.Delivered != 1 || in.Failures != 0 {
		t.Errorf("healthy subscription: %+v", in)
	}
}

func TestTransientFailureRetriesWithDefaultBackoff(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-retry", nil)
	e.q.set(e.q.down, "flaky", true)
	sub := e.subscribe(arn, "flaky", nil)
	other := e.subscribe(arn, "steady", nil)
	e.publish(arn, PublishInput{Message: "m"})
	// SNS's default: three immediate retries, then one after a second.
	// Meanwhile the healthy subscriber has its message: it does not wait
	// for the failing one (the clock has not moved).
	eventually(t, "4 attempts failed, a 1 s retry waits, the healthy queue has the message", func() bool {
		return e.info(arn, sub).Failures == 4 && e.clock.waiting() == 1 && len(e.q.got("steady")) == 1
	})
	if in := e.info(arn, other); in.Delivered != 1 {
		t.Errorf("healthy subscription: %+v", in)
	}
	if e.stored("t-retry") != 1 {
		t.Fatalf("the pending delivery is not stored")
	}
	e.q.set(e.q.down, "flaky", false)
	e.clock.Advance(999 * time.Millisecond)
	if len(e.q.got("flaky")) != 0 {
		t.Fatal("retried before the delay")
	}
	e.clock.Advance(time.Millisecond)
	eventually(t, "the retry delivered", func() bool { return len(e.q.got("flaky")) == 1 })
	eventually(t, "the record is deleted", func() bool { return e.stored("t-retry") == 0 })
}

func TestFifoOrderPerGroupAndDedup(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-order.fifo", map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"})
	e.subscribe(arn, "ordered.fifo", nil)
	var seqs []string
	for i := 0; i < 30; i++ {
		r := e.publish(arn, PublishInput{Message: fmt.Sprintf("g%d-%02d", i%2, i/2), MessageGroupID: fmt.Sprintf("g%d", i%2)})
		seqs = append(seqs, r.SequenceNumber)
	}
	dup := e.publish(arn, PublishInput{Message: "g0-00", MessageGroupID: "g0"})
	if dup.SequenceNumber != seqs[0] {
		t.Errorf("a duplicate within 5 minutes got sequence %s, want the first one's %s", dup.SequenceNumber, seqs[0])
	}
	if !sort.StringsAreSorted(seqs) {
		t.Errorf("sequence numbers not increasing: %v", seqs)
	}
	eventually(t, "30 messages delivered", func() bool { return len(e.q.got("ordered.fifo")) == 30 })
	last := map[string]string{}
	for _, m := range e.q.got("ordered.fifo") {
		var env Envelope
		if err := json.Unmarshal([]byte(m.Body), &env); err != nil {
			t.Fatal(err)
		}
		if m.GroupID == "" || m.DeduplicationID == "" || env.SequenceNumber == "" {
			t.Fatalf("FIFO delivery without group, dedup id or sequence number: %+v", m)
		}
		if env.Message <= last[m.GroupID] {
			t.Fatalf("group %s: %s after %s", m.GroupID, env.Message, last[m.GroupID])
		}
		last[m.GroupID] = env.Message
	}
}

func TestResumeAfterRestart(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-resume", nil)
	e.q.set(e.q.down, "later", true)
	sub := e.subscribe(arn, "later", nil)
	e.subscribe(arn, "now", nil)
	e.publish(arn, PublishInput{Message: "kept"})
	eventually(t, "the failing delivery waits for a retry", func() bool {
		return e.info(arn, sub).Failures == 4 && e.clock.waiting() == 1 && len(e.q.got("now")) == 1
	})
	e.stop()
	if n := e.stored("t-resume"); n != 1 {
		t.Fatalf("%d records stored after stopping, want the pending one", n)
	}
	e.q.set(e.q.down, "later", false)
	e.start()
	eventually(t, "the resumed delivery arrived", func() bool { return len(e.q.got("later")) == 1 })
	if n := len(e.q.got("now")); n != 1 {
		t.Errorf("the subscriber that had its message got it %d times; progress was saved before the restart", n)
	}
	eventually(t, "the record is deleted", func() bool { return e.stored("t-resume") == 0 })
}

func TestPublishValidation(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-valid", nil)
	fifo := e.topic("t-valid.fifo", map[string]string{"FifoTopic": "true"})
	ctx := context.Background()
	big := strings.Repeat("x", model.MaxPublishBytes+1)
	for _, tc := range []struct {
		name  string
		topic string
		in    PublishInput
		kind  Kind
		msg   string
	}{
		{"empty", arn, PublishInput{}, KindInvalidParameter, "Empty message"},
		{"too long", arn, PublishInput{Message: big}, KindInvalidParameter, "Message too long"},
		{"bad attribute type", arn, PublishInput{Message: "m", Attributes: map[string]model.MessageAttributeValue{"a": {DataType: "Float", StringValue: "1"}}}, KindInvalidValue, "invalid message attribute type"},
		{"empty attribute", arn, PublishInput{Message: "m", Attributes: map[string]model.MessageAttributeValue{"a": {DataType: "String"}}}, KindInvalidValue, "non-empty"},
		{"dedup on standard", arn, PublishInput{Message: "m", MessageDeduplicationID: "d"}, KindInvalidParameter, "MessageDeduplicationId"},
		{"fifo without group", fifo, PublishInput{Message: "m", MessageDeduplicationID: "d"}, KindInvalidParameter, "MessageGroupId"},
		{"fifo without dedup", fifo, PublishInput{Message: "m", MessageGroupID: "g"}, KindInvalidParameter, "ContentBasedDeduplication"},
		{"json without default", arn, PublishInput{Message: `{"sqs":"x"}`, MessageStructure: "json"}, KindInvalidParameter, "No default entry"},
		{"no such topic", model.TopicArn(model.DefaultRegion, "t-valid-nope"), PublishInput{Message: "m"}, KindNotFound, "Topic does not exist"},
	} {
		_, err := e.s.Publish(ctx, tc.topic, tc.in)
		if KindOf(err) != tc.kind || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.kind, tc.msg)
		}
	}
	// Batch limits.
	var eleven []PublishInput
	for i := range 11 {
		eleven = append(eleven, PublishInput{ID: fmt.Sprint(i), Message: "m"})
	}
	if _, _, err := e.s.PublishBatch(ctx, arn, eleven); KindOf(err) != KindTooManyEntries {
		t.Errorf("11 entries: %v", err)
	}
	if _, _, err := e.s.PublishBatch(ctx, arn, []PublishInput{{ID: "a", Message: "m"}, {ID: "a", Message: "n"}}); KindOf(err) != KindDuplicateBatchID {
		t.Errorf("duplicate ids: %v", err)
	}
	res, fails, err := e.s.PublishBatch(ctx, arn, []PublishInput{{ID: "ok", Message: "m"}, {ID: "bad", Message: ""}})
	if err != nil || len(res) != 1 || res[0].ID != "ok" || len(fails) != 1 || fails[0].ID != "bad" {
		t.Errorf("mixed batch: %v %v %v", res, fails, err)
	}
}

func TestTopicAndSubscriptionRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.s.CreateTopic(ctx, "bad name", nil, nil); KindOf(err) != KindInvalidParameter {
		t.Errorf("bad name: %v", err)
	}
	if _, err := e.s.CreateTopic(ctx, "t-rules.fifo", nil, nil); KindOf(err) != KindInvalidParameter {
		t.Errorf(".fifo without FifoTopic: %v", err)
	}
	arn := e.topic("t-rules", map[string]string{"DisplayName": "a"})
	if again := e.topic("t-rules", map[string]string{"DisplayName": "a"}); again != arn {
		t.Errorf("CreateTopic is not idempotent: %s then %s", arn, again)
	}
	if _, err := e.s.CreateTopic(ctx, "t-rules", map[string]string{"DisplayName": "b"}, nil); KindOf(err) != KindInvalidParameter {
		t.Errorf("same name, other attributes: %v", err)
	}
	if _, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "sqs", Endpoint: model.QueueArn(model.DefaultRegion, "x.fifo")}); KindOf(err) != KindInvalidParameter {
		t.Errorf("FIFO queue on a standard topic: %v", err)
	}
	if _, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "smtp", Endpoint: "a@b"}); KindOf(err) != KindInvalidParameter {
		t.Errorf("unknown protocol: %v", err)
	}
	a1 := e.subscribe(arn, "same", nil)
	if a2 := e.subscribe(arn, "same", nil); a1 != a2 {
		t.Errorf("Subscribe is not idempotent: %s then %s", a1, a2)
	}
	h, pending, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "https", Endpoint: "https://127.0.0.1:1/hook"})
	if err != nil || !pending {
		t.Fatalf("https subscribe: %v pending=%v", err, pending)
	}
	e.publish(arn, PublishInput{Message: "m"})
	eventually(t, "the queue got it", func() bool { return len(e.q.got("same")) == 1 })
	if in := e.info(arn, h); in.Delivered+in.Failures+in.Pending != 0 || !strings.Contains(in.State, "pending confirmation") {
		t.Errorf("pending https subscription: %+v; want nothing delivered", in)
	}
	if err := e.s.Unsubscribe(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GetSubscriptionAttributes(ctx, a1); KindOf(err) != KindNotFound {
		t.Errorf("after Unsubscribe: %v", err)
	}
	if err := e.s.TagResource(ctx, arn, map[string]string{"team": "shop"}); err != nil {
		t.Fatal(err)
	}
	if tags, _ := e.s.ListTagsForResource(ctx, arn); tags["team"] != "shop" {
		t.Errorf("tags %v", tags)
	}
	if err := e.s.TagResource(ctx, model.TopicArn(model.DefaultRegion, "t-rules-none"), map[string]string{"a": "b"}); KindOf(err) != KindNoSuchResource {
		t.Errorf("tagging a missing topic: %v", err)
	}
}

func TestFilterPolicies(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-filter", nil)
	e.subscribe(arn, "all", nil)
	e.subscribe(arn, "coupons", map[string]string{"FilterPolicy": `{"kind":["coupon"],"price":[{"numeric":["<",5]}]}`})
	e.subscribe(arn, "body-trivia", map[string]string{"FilterPolicyScope": "MessageBody", "FilterPolicy": `{"topic":{"name":[{"prefix":"triv"}]}}`})
	str := func(v string) model.MessageAttributeValue {
		return model.MessageAttributeValue{DataType: "String", StringValue: v}
	}
	num := func(v string) model.MessageAttributeValue {
		return model.MessageAttributeValue{DataType: "Number", StringValue: v}
	}
	e.publish(arn, PublishInput{Message: "cheap coupon", Attributes: map[string]model.MessageAttributeValue{"kind": str("coupon"), "price": num("3")}})
	e.publish(arn, PublishInput{Message: "dear coupon", Attributes: map[string]model.MessageAttributeValue{"kind": str("coupon"), "price": num("7")}})
	e.publish(arn, PublishInput{Message: `{"topic":{"name":"trivia"}}`})
	e.publish(arn, PublishInput{Message: `{"topic":{"name":"news"}}`})
	eventually(t, "all four reached the unfiltered queue", func() bool { return len(e.q.got("all")) == 4 })
	bodies := func(q string) []string {
		var out []string
		for _, m := range e.q.got(q) {
			var env Envelope
			_ = json.Unmarshal([]byte(m.Body), &env)
			out = append(out, env.Message)
		}
		return out
	}
	if got := bodies("coupons"); len(got) != 1 || got[0] != "cheap coupon" {
		t.Errorf("coupons got %q, want only the cheap coupon", got)
	}
	if got := bodies("body-trivia"); len(got) != 1 || got[0] != `{"topic":{"name":"trivia"}}` {
		t.Errorf("body-trivia got %q, want only the trivia body", got)
	}
	_, _, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: arn, Protocol: "sqs",
		Endpoint: model.QueueArn(model.DefaultRegion, "bad"), Attributes: map[string]string{"FilterPolicy": `{"a":[{"numeric":["<"]}]}`}})
	if KindOf(err) != KindInvalidParameter || !strings.HasPrefix(AsError(err).Message, "Invalid parameter: FilterPolicy: ") {
		t.Errorf("invalid policy: %v", err)
	}
	subs, _ := e.s.ListSubscriptions(context.Background(), arn)
	err = e.s.SetSubscriptionAttributes(context.Background(), subs[1].Arn, "FilterPolicy", `{"a":"not-an-array"}`)
	if KindOf(err) != KindInvalidParameter {
		t.Errorf("SetSubscriptionAttributes with an invalid policy: %v", err)
	}
}
