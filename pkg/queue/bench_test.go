package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/store"
)

func benchBroker(tb testing.TB) *Broker {
	st, err := store.Open(context.Background(), store.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc := New(st, Options{})
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done; st.Close() })
	return svc
}

// BenchmarkSendBatchParallel measures the engine and etcd without HTTP:
// 8 goroutines sending 10-message batches.
func BenchmarkSendBatchParallel(b *testing.B) {
	svc := benchBroker(b)
	ctx := context.Background()
	if _, err := svc.CreateQueue(ctx, "bench", nil, nil); err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 100)
	es := make([]SendEntry, 10)
	for i := range es {
		es[i] = SendEntry{ID: fmt.Sprint(i), Body: body}
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var l []time.Duration
		for pb.Next() {
			t := time.Now()
			if _, _, err := svc.SendMessageBatch(ctx, "bench", es); err != nil {
				b.Error(err)
				return
			}
			l = append(l, time.Since(t))
		}
		mu.Lock()
		lat = append(lat, l...)
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-us")
		b.ReportMetric(float64(commitNs.Load()/max(1, commitN.Load()))/1000, "commit-us")
		b.ReportMetric(float64(commitOps.Load()/max(1, commitN.Load())), "ops/commit")
	}
}
