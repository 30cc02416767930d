package topic

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// fanoutEnv is a topic service delivering to a real queue broker on their
// own embedded etcd (durable: every commit is fsynced), as in `orch
// server` without HTTP in front.
type fanoutEnv struct {
	b *queue.Broker
	s *Service
}

func newFanoutEnv(tb testing.TB) *fanoutEnv {
	tb.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	b := queue.New(st, queue.Options{Logger: log})
	s := New(st, Options{Ownership: b, Queues: b, BaseURL: "http://orch.test", Logger: log})
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.Run(ctx) })
	wg.Go(func() { _ = s.Run(ctx) })
	tb.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	eventually(tb, "the service serves the topics", s.Owned)
	return &fanoutEnv{b: b, s: s}
}

// fanoutTopic is a topic with queue subscriptions (raw delivery, so a body
// is the publish's number).
type fanoutTopic struct {
	arn    string
	queues []string
}

func (e *fanoutEnv) topic(tb testing.TB, name string, subs int) *fanoutTopic {
	tb.Helper()
	ctx := context.Background()
	arn, err := e.s.CreateTopic(ctx, name, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	t := &fanoutTopic{arn: arn}
	for i := range subs {
		q := fmt.Sprintf("%s-q%d", name, i)
		if _, err := e.b.CreateQueue(ctx, q, nil, nil); err != nil {
			tb.Fatal(err)
		}
		if _, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: arn, Protocol: "sqs", Endpoint: model.QueueArn(model.DefaultRegion, q),
			Attributes: map[string]string{model.SARawMessageDelivery: "true"}}); err != nil {
			tb.Fatal(err)
		}
		t.queues = append(t.queues, q)
	}
	return t
}

// subscribeDead adds an http subscriber that confirms its subscription and
// then never answers a notification (until the test ends).
func (e *fanoutEnv) subscribeDead(tb testing.TB, t *fanoutTopic) { e.subscribeHTTP(tb, t, true) }

// subscribeHTTP adds an http subscriber that confirms its subscription and
// then answers every notification at once with 200, or, dead, never.
func (e *fanoutEnv) subscribeHTTP(tb testing.TB, t *fanoutTopic, dead bool) {
	tb.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m["Type"] == "SubscriptionConfirmation" {
			_, _ = e.s.ConfirmSubscription(context.Background(), t.arn, m["Token"])
			return
		}
		if !dead {
			return
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	tb.Cleanup(func() { close(done); srv.Close() })
	arn, _, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: t.arn, Protocol: "http", Endpoint: srv.URL + "/"})
	if err != nil {
		tb.Fatal(err)
	}
	eventually(tb, "the http subscriber confirmed", func() bool {
		a, err := e.s.GetSubscriptionAttributes(context.Background(), arn)
		return err == nil && a["PendingConfirmation"] == "false"
	})
}

// latencies publishes n messages to t at a steady rate (one every
// interval), with one long-polling consumer per queue, and returns for
// each message the time from Publish returning to its having been
// received from every queue, and Publish's own duration.
func (e *fanoutEnv) latencies(tb testing.TB, t *fanoutTopic, n int, interval time.Duration) (recv, pub []time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	returned := make([]time.Time, n)
	last := make([]time.Time, n)
	count := make([]int, n)
	var cwg sync.WaitGroup
	wait := 1
	for _, q := range t.queues {
		cwg.Go(func() {
			for ctx.Err() == nil {
				ms, err := e.b.ReceiveMessage(ctx, q, queue.ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &wait})
				if err != nil || len(ms) == 0 {
					continue
				}
				now := time.Now()
				hs := make([]queue.BatchHandle, 0, len(ms))
				mu.Lock()
				for i, m := range ms {
					if id, err := strconv.Atoi(m.Body); err == nil && id < n {
						count[id]++
						last[id] = now
					}
					hs = append(hs, queue.BatchHandle{ID: strconv.Itoa(i), Handle: m.ReceiptHandle})
				}
				mu.Unlock()
				cwg.Go(func() { _, _, _ = e.b.DeleteMessageBatch(context.WithoutCancel(ctx), q, hs) })
			}
		})
	}
	start := time.Now()
	var pwg sync.WaitGroup
	pub = make([]time.Duration, n)
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		pwg.Go(func() {
			t0 := time.Now()
			if _, err := e.s.Publish(ctx, t.arn, PublishInput{Message: strconv.Itoa(i)}); err != nil {
				tb.Error(err)
				return
			}
			now := time.Now()
			mu.Lock()
			returned[i], pub[i] = now, now.Sub(t0)
			mu.Unlock()
		})
	}
	pwg.Wait()
	eventually(tb, "every message received from every queue", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			if count[i] < len(t.queues) {
				return false
			}
		}
		return true
	})
	cancel()
	cwg.Wait()
	for i := range n {
		recv = append(recv, max(0, last[i].Sub(returned[i])))
	}
	return recv, pub
}

func pct(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

// BenchmarkFanoutLatency publishes b.N messages at a steady 200/s to a
// topic with 10 queue subscriptions and reports the time from Publish
// returning to the message having been received from all 10 queues (one
// long-polling consumer per queue), and Publish's own duration.
//
//	go test -run '^$' -bench FanoutLatency -benchtime 2000x ./pkg/topic/
func BenchmarkFanoutLatency(b *testing.B) {
	e := newFanoutEnv(b)
	t := e.topic(b, "fanout", 10)
	b.ResetTimer()
	recv, pub := e.latencies(b, t, b.N, 5*time.Millisecond)
	b.StopTimer()
	b.ReportMetric(pct(recv, 0.5), "p50-ms")
	b.ReportMetric(pct(recv, 0.99), "p99-ms")
	b.ReportMetric(pct(pub, 0.5), "publish-p50-ms")
	b.ReportMetric(pct(pub, 0.99), "publish-p99-ms")
}

// BenchmarkFanoutDeadSubscriber is the isolation figure: the same
// latency run as BenchmarkFanoutLatency (b.N publishes at 200/s, 10 queue
// subscriptions) on three topics of one server: "base" with the queues
// only, "live" with an http subscriber as well that answers at once, and
// "dead" with one that never answers; 3 rounds, each running the three in
// turn, so the machine's load drifts over all alike. It reports, per kind,
// the median of the rounds' p99s with the smallest and largest beside it
// (min-/max- metrics), the dead/base ratio of the medians (the target: at
// most 1.10) and the absolute difference in milliseconds, since the ratio
// of two figures far under a millisecond says little by itself. The
// dead/live ratio separates what a dead subscriber costs from what any
// http subscriber costs: its message record (one more etcd write per
// publish, side by side with the queues' commit) and its delivery, a
// signed envelope and a POST.
//
//	go test -run '^$' -bench FanoutDeadSubscriber -benchtime 1000x ./pkg/topic/
func BenchmarkFanoutDeadSubscriber(b *testing.B) {
	e := newFanoutEnv(b)
	kinds := []string{"base", "live", "dead"}
	topics := map[string]*fanoutTopic{}
	for _, k := range kinds {
		topics[k] = e.topic(b, "fanout-"+k, 10)
	}
	e.subscribeHTTP(b, topics["live"], false)
	e.subscribeHTTP(b, topics["dead"], true)
	p99s := map[string][]float64{}
	pubs := map[string][]float64{}
	b.ResetTimer()
	for range 3 {
		for _, k := range kinds {
			r, p := e.latencies(b, topics[k], b.N, 5*time.Millisecond)
			p99s[k] = append(p99s[k], pct(r, 0.99))
			pubs[k] = append(pubs[k], pct(p, 0.99))
		}
	}
	b.StopTimer()
	med := map[string]float64{}
	for _, k := range kinds {
		v := p99s[k]
		sort.Float64s(v)
		med[k] = v[len(v)/2]
		b.ReportMetric(v[len(v)/2], k+"-p99-ms")
		b.ReportMetric(v[0], "min-"+k+"-p99-ms")
		b.ReportMetric(v[len(v)-1], "max-"+k+"-p99-ms")
		sort.Float64s(pubs[k])
		b.ReportMetric(pubs[k][len(pubs[k])/2], k+"-publish-p99-ms")
	}
	b.ReportMetric(med["dead"]/med["base"], "dead/base-p99-ratio")
	b.ReportMetric(med["dead"]-med["base"], "dead-minus-base-p99-ms")
	b.ReportMetric(med["dead"]/med["live"], "dead/live-p99-ratio")
}
