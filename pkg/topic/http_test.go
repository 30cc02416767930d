package topic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// endpoint is a real HTTP subscriber that records what it was sent.
type endpoint struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// status answers notifications (confirmations always get 200);
	// hang, when set, holds notifications until it is closed.
	status        atomic.Int32
	confirmStatus atomic.Int32 // answers confirmations; 0 is 200
	hang          chan struct{}
	inflight, max atomic.Int32
}

type received struct {
	header http.Header
	body   map[string]any
	raw    string
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{}
	ep.status.Store(200)
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		ep.mu.Lock()
		ep.got = append(ep.got, received{header: r.Header.Clone(), body: m, raw: string(b)})
		ep.mu.Unlock()
		if r.Header.Get("x-amz-sns-message-type") != "Notification" {
			if c := ep.confirmStatus.Load(); c != 0 {
				w.WriteHeader(int(c))
			}
			return
		}
		n := ep.inflight.Add(1)
		defer ep.inflight.Add(-1)
		for {
			m := ep.max.Load()
			if n <= m || ep.max.CompareAndSwap(m, n) {
				break
			}
		}
		if ep.hang != nil {
			select {
			case <-ep.hang:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(int(ep.status.Load()))
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) of(kind string) []received {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []received
	for _, r := range ep.got {
		if r.header.Get("x-amz-sns-message-type") == kind {
			out = append(out, r)
		}
	}
	return out
}

// subscribeHTTP subscribes ep and confirms it with the token it was sent.
func (e *env) subscribeHTTP(topicArn string, ep *endpoint, attrs map[string]string) string {
	e.t.Helper()
	arn, pending, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: topicArn, Protocol: "http", Endpoint: ep.srv.URL + "/sns", Attributes: attrs})
	if err != nil {
		e.t.Fatal(err)
	}
	if !pending || arn != "pending confirmation" && !strings.HasPrefix(arn, "arn:") {
		e.t.Fatalf("Subscribe(http) = %q pending %v, want a pending subscription", arn, pending)
	}
	eventually(e.t, "the endpoint got the SubscriptionConfirmation", func() bool { return len(ep.of("SubscriptionConfirmation")) == 1 })
	c := ep.of("SubscriptionConfirmation")[0]
	tok, _ := c.body["Token"].(string)
	confirmed, err := e.s.ConfirmSubscription(context.Background(), topicArn, tok)
	if err != nil {
		e.t.Fatalf("ConfirmSubscription with the token sent: %v", err)
	}
	return confirmed
}

func TestHTTPConfirmationThenSignedNotifications(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-http", map[string]string{"SignatureVersion": "2"})
	ep := newEndpoint(t)
	_, pending, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: arn, Protocol: "http", Endpoint: ep.srv.URL + "/sns"})
	if err != nil || !pending {
		t.Fatalf("Subscribe(http): pending %v err %v, want pending confirmation", pending, err)
	}
	early := e.publish(arn, PublishInput{Message: "before confirmation"})
	eventually(t, "the SubscriptionConfirmation arrives", func() bool { return len(ep.of("SubscriptionConfirmation")) == 1 })
	c := ep.of("SubscriptionConfirmation")[0]
	if c.header.Get("x-amz-sns-topic-arn") != arn || c.header.Get("x-amz-sns-message-id") != c.body["MessageId"] {
		t.Errorf("confirmation headers %v", c.header)
	}
	tok := c.body["Token"].(string)
	want := "http://orch.test/?Action=ConfirmSubscription&TopicArn=" + strings.ReplaceAll(arn, ":", "%3A") + "&Token=" + tok
	if c.body["SubscribeURL"] != want || c.body["Type"] != "SubscriptionConfirmation" || c.body["TopicArn"] != arn {
		t.Errorf("confirmation body %v, want SubscribeURL %s", c.body, want)
	}
	checkSignature(t, e.s, c.body)
	if c.body["SignatureVersion"] != "2" {
		t.Errorf("SignatureVersion = %v, want the topic's 2", c.body["SignatureVersion"])
	}
	if _, err := e.s.ConfirmSubscription(context.Background(), arn, "not-the-token"); KindOf(err) != KindInvalidParameter {
		t.Errorf("ConfirmSubscription with a wrong token: %v, want InvalidParameter", err)
	}
	subArn, err := e.s.ConfirmSubscription(context.Background(), arn, tok)
	if err != nil || !strings.HasPrefix(subArn, arn+":") {
		t.Fatalf("ConfirmSubscription = %q, %v", subArn, err)
	}
	r := e.publish(arn, PublishInput{Message: "fresh beans", Subject: "news",
		Attributes: map[string]model.MessageAttributeValue{"kind": {DataType: "String", StringValue: "coupon"}}})
	eventually(t, "the notification arrives", func() bool { return len(ep.of("Notification")) == 1 })
	n := ep.of("Notification")[0]
	for h, v := range map[string]string{"x-amz-sns-message-id": r.MessageID, "x-amz-sns-topic-arn": arn,
		"x-amz-sns-subscription-arn": subArn, "Content-Type": "text/plain; charset=UTF-8"} {
		if n.header.Get(h) != v {
			t.Errorf("header %s = %q, want %q", h, n.header.Get(h), v)
		}
	}
	if n.body["Message"] != "fresh beans" || n.body["Subject"] != "news" || n.body["MessageId"] != r.MessageID {
		t.Errorf("notification %v", n.body)
	}
	checkSignature(t, e.s, n.body)
	for _, got := range ep.of("Notification") {
		if got.body["MessageId"] == early.MessageID {
			t.Error("a message published before the confirmation was delivered")
		}
	}
}

func TestHTTPRawDelivery(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-http-raw", nil)
	ep := newEndpoint(t)
	e.subscribeHTTP(arn, ep, map[string]string{"RawMessageDelivery": "true"})
	e.publish(arn, PublishInput{Message: `{"raw":true}`})
	eventually(t, "the raw notification arrives", func() bool { return len(ep.of("Notification")) == 1 })
	if n := ep.of("Notification")[0]; n.raw != `{"raw":true}` || n.header.Get("x-amz-sns-rawdelivery") != "true" {
		t.Errorf("raw delivery body %q headers %v, want the bare message", n.raw, n.header)
	}
}

func TestHTTPRetriesThenDeadLetter(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-http-dlq", nil)
	ep := newEndpoint(t)
	ep.status.Store(503)
	e.subscribeHTTP(arn, ep, map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + model.QueueArn(model.DefaultRegion, "http-dlq") + `"}`})
	e.publish(arn, PublishInput{Message: "doomed"})
	// SNS's http default: 3 retries 20 s apart after the first attempt.
	for attempt := 1; attempt <= 4; attempt++ {
		eventually(t, "delivery attempt", func() bool { return len(ep.of("Notification")) == attempt })
		if attempt < 4 {
			eventually(t, "a retry is scheduled", func() bool { return e.clock.waiting() > 0 })
			e.clock.Advance(20 * time.Second)
		}
	}
	eventually(t, "the message is dead-lettered", func() bool { return len(e.q.got("http-dlq")) == 1 })
	d := e.q.got("http-dlq")[0]
	if d.Attributes["ErrorCode"].StringValue != "HTTPStatus503" || !strings.Contains(d.Body, `"Message":"doomed"`) {
		t.Errorf("dead letter %q attributes %v", d.Body, d.Attributes)
	}
	if n := len(ep.of("Notification")); n != 4 {
		t.Errorf("%d attempts, want 4 (1 + 3 retries)", n)
	}
}

// A hanging endpoint holds only its own bounded workers: Publish and the
// queue subscribers beside it go on at full speed.
func TestHTTPHangingSubscriberIsolation(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-http-hang", nil)
	ep := newEndpoint(t)
	ep.hang = make(chan struct{})
	t.Cleanup(func() { close(ep.hang) })
	subArn := e.subscribeHTTP(arn, ep, nil)
	for _, q := range []string{"iso-a", "iso-b", "iso-c"} {
		e.subscribe(arn, q, nil)
	}
	// The baseline, measured here so a busy machine slows both alike: the
	// same publishes to a topic with three queue subscribers and no HTTP one.
	base := e.topic("t-http-hang-base", nil)
	for _, q := range []string{"iso-base-a", "iso-base-b", "iso-base-c"} {
		e.subscribe(base, q, nil)
	}
	const n = 400
	batch := make([]PublishInput, 10)
	for i := range batch {
		batch[i] = PublishInput{ID: itoa(i), Message: "m"}
	}
	publishAll := func(topicArn string) time.Duration {
		start := time.Now()
		for range n / len(batch) {
			if _, fails, err := e.s.PublishBatch(context.Background(), topicArn, batch); err != nil || len(fails) > 0 {
				t.Fatalf("PublishBatch: %v %v", err, fails)
			}
		}
		return time.Since(start)
	}
	baseline := publishAll(base)
	goroutines := runtime.NumGoroutine()
	// Publish never waits for the subscriber that does not answer: beside
	// it, the publishes take about as long as without it (a waiting Publish
	// would take the HTTP timeout per delivery, minutes for 400).
	if d := publishAll(arn); d > 3*baseline+2*time.Second {
		t.Errorf("%d publishes took %v beside a hanging subscriber, %v without one", n, d, baseline)
	}
	// The queue subscribers have every message when Publish returns.
	for _, q := range []string{"iso-a", "iso-b", "iso-c"} {
		if got := len(e.q.got(q)); got != n {
			t.Errorf("%s got %d messages when the publishes returned, want %d", q, got, n)
		}
	}
	eventually(t, "the hanging endpoint holds its worker slots", func() bool { return ep.inflight.Load() == httpWorkersPerSub })
	if m := ep.max.Load(); m > httpWorkersPerSub {
		t.Errorf("%d requests at once to one subscription, want at most %d", m, httpWorkersPerSub)
	}
	// The deliveries to the hanging endpoint wait in its queue, not in a
	// goroutine each: what is left is per connection (8 workers; the
	// client's read and write loops and the test server's handler for
	// each of the 8 connections) and does not grow with the publishes.
	o, err := e.s.owner(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := o.subscription(subArn)
	if err != nil {
		t.Fatal(err)
	}
	if q := ss.queued(); q != n-httpWorkersPerSub {
		t.Errorf("%d deliveries queued for the hanging subscriber, want %d (the rest are under way)", q, n-httpWorkersPerSub)
	}
	if g := runtime.NumGoroutine() - goroutines; g > 6*httpWorkersPerSub {
		t.Errorf("%d more goroutines after %d publishes beside a hanging subscriber, want at most %d", g, n, 6*httpWorkersPerSub)
	}
}

// TestHTTPConfirmationResentOnTakeover: a SubscriptionConfirmation that
// had not got through when the serving replica stopped is sent again by
// the next one (here the same service restarted on the same store), with
// the same valid token; one that got through is not sent again, nor one
// whose token expired.
func TestHTTPConfirmationResentOnTakeover(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-http-resend", nil)
	ctx := context.Background()

	down := newEndpoint(t) // refuses the first confirmation
	down.confirmStatus.Store(503)
	subArn, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "http", Endpoint: down.srv.URL + "/sns"})
	if err != nil {
		t.Fatal(err)
	}
	up := newEndpoint(t) // gets its confirmation at once
	if _, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "http", Endpoint: up.srv.URL + "/sns"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first confirmation was refused and a retry is waiting", func() bool {
		return len(down.of("SubscriptionConfirmation")) == 1 && e.clock.waiting() > 0
	})
	eventually(t, "the other endpoint got its confirmation", func() bool { return len(up.of("SubscriptionConfirmation")) == 1 })
	eventually(t, "its sending is recorded", func() bool {
		subs, _ := testStore.ListSubscriptions(ctx)
		for _, s := range subs {
			if s.Endpoint == up.srv.URL+"/sns" {
				return s.ConfirmationSent
			}
		}
		return false
	})
	first := down.of("SubscriptionConfirmation")[0].body["Token"]

	// The replica stops before the retry; the next owner sends it again.
	e.stop()
	down.confirmStatus.Store(0)
	e.start()
	eventually(t, "the confirmation was sent again", func() bool { return len(down.of("SubscriptionConfirmation")) == 2 })
	c := down.of("SubscriptionConfirmation")[1]
	if c.body["Token"] != first {
		t.Fatalf("the resent confirmation has token %v, want the first one's %v", c.body["Token"], first)
	}
	checkSignature(t, e.s, c.body)
	if _, err := e.s.ConfirmSubscription(ctx, arn, first.(string)); err != nil {
		t.Fatalf("ConfirmSubscription with the resent token: %v", err)
	}
	if st := e.info(arn, subArn).State; st != "confirmed" {
		t.Fatalf("state %q after confirming, want confirmed", st)
	}
	if n := len(up.of("SubscriptionConfirmation")); n != 1 {
		t.Fatalf("the endpoint that got its confirmation got %d, want 1 (not sent again)", n)
	}

	// A token that expired while no replica served is not sent again.
	late := newEndpoint(t)
	late.confirmStatus.Store(503)
	if _, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "http", Endpoint: late.srv.URL + "/sns"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late endpoint's first confirmation was refused", func() bool { return len(late.of("SubscriptionConfirmation")) == 1 })
	e.stop()
	e.clock.Advance(49 * time.Hour)
	late.confirmStatus.Store(0)
	e.start()
	up2 := newEndpoint(t)
	e.subscribeHTTP(arn, up2, nil) // the service serves and sends confirmations again
	if n := len(late.of("SubscriptionConfirmation")); n != 1 {
		t.Fatalf("the expired subscription got %d confirmations, want 1 (its token expired before the restart)", n)
	}
}
