package topic

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// fanoutEnv is a topic service delivering to a real queue broker, both on
// their own embedded etcd (durable: every commit is fsynced), as in
// `orch server` without HTTP.
type fanoutEnv struct {
	b      *queue.Broker
	s      *Service
	arn    string
	queues []string
}

func newFanoutEnv(tb testing.TB, subs int) *fanoutEnv {
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
	e := &fanoutEnv{b: b, s: s}
	e.arn, err = s.CreateTopic(ctx, "fanout", nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range subs {
		q := fmt.Sprintf("fanout-q%d", i)
		if _, err := b.CreateQueue(ctx, q, nil, nil); err != nil {
			tb.Fatal(err)
		}
		if _, _, err := s.Subscribe(ctx, SubscribeInput{TopicArn: e.arn, Protocol: "sqs", Endpoint: model.QueueArn(model.DefaultRegion, q),
			Attributes: map[string]string{model.SARawMessageDelivery: "true"}}); err != nil {
			tb.Fatal(err)
		}
		e.queues = append(e.queues, q)
	}
	return e
}

// BenchmarkFanoutLatency publishes at a steady 200/s to a topic with 10
// queue subscriptions and reports the time from Publish returning to the
// message having been received from all 10 queues (one long-polling
// consumer per queue).
func BenchmarkFanoutLatency(b *testing.B) {
	e := newFanoutEnv(b, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	returned := map[int]time.Time{}
	last := map[int]time.Time{}
	count := map[int]int{}
	var pubLat []time.Duration
	var cwg sync.WaitGroup
	wait := 1
	for _, q := range e.queues {
		cwg.Go(func() {
			for ctx.Err() == nil {
				ms, err := e.b.ReceiveMessage(ctx, q, queue.ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &wait})
				if err != nil {
					continue
				}
				now := time.Now()
				mu.Lock()
				for _, m := range ms {
					id, _ := strconv.Atoi(m.Body)
					count[id]++
					last[id] = now
				}
				mu.Unlock()
				var hs []string
				for _, m := range ms {
					hs = append(hs, m.ReceiptHandle)
				}
				if len(hs) > 0 {
					cwg.Go(func() {
						for _, h := range hs {
							_ = e.b.DeleteMessage(ctx, q, h)
						}
					})
				}
			}
		})
	}
	interval := 5 * time.Millisecond
	start := time.Now()
	b.ResetTimer()
	var pwg sync.WaitGroup
	for i := range b.N {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		pwg.Go(func() {
			t0 := time.Now()
			if _, err := e.s.Publish(ctx, e.arn, PublishInput{Message: strconv.Itoa(i)}); err != nil {
				b.Error(err)
				return
			}
			now := time.Now()
			mu.Lock()
			returned[i] = now
			pubLat = append(pubLat, now.Sub(t0))
			mu.Unlock()
		})
	}
	pwg.Wait()
	eventually(b, "every message received from every queue", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range b.N {
			if count[i] < len(e.queues) {
				return false
			}
		}
		return true
	})
	b.StopTimer()
	cancel()
	cwg.Wait()
	var lat []time.Duration
	for i := range b.N {
		lat = append(lat, max(0, last[i].Sub(returned[i])))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	sort.Slice(pubLat, func(i, j int) bool { return pubLat[i] < pubLat[j] })
	b.ReportMetric(float64(pubLat[len(pubLat)/2].Microseconds())/1000, "pub-p50-ms")
	b.ReportMetric(float64(pubLat[len(pubLat)*99/100].Microseconds())/1000, "pub-p99-ms")
}
