package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRawCommit is the baseline for the queue figures: what the
// embedded etcd commits durably on this machine with nothing above it, 8
// goroutines each writing one 200-byte key per transaction and deleting
// it in the next (a message's two writes, with no batching at all). Its
// commits/s is the ceiling the queue's grouping works against: see the cost
// model in docs/queues.md.
func BenchmarkRawCommit(b *testing.B) {
	s, err := Open(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := strings.Repeat("v", 200)
	var next atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 goroutines here
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := strconv.FormatInt(next.Add(1), 36)
			if err := s.CommitQueueOps(ctx, []QueueOp{{Kind: QueuePutMessage, QueueID: "raw", ID: id, Encoded: []byte(val)}}, nil); err != nil {
				b.Error(err)
				return
			}
			if err := s.CommitQueueOps(ctx, []QueueOp{{Kind: QueueDeleteMessage, QueueID: "raw", ID: id}}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "commits/s")
}

// BenchmarkRawCommitLatency is the floor under every latency figure that
// waits for a commit (a Publish, a SendMessage): one goroutine commits one
// 200-byte key per transaction to the embedded etcd, b.N times in a row,
// and reports the commit latency's p50, p99 and max. A fsync that stalls
// shows here first; the topic latency bench (scripts/bench-topics.sh)
// runs it beside its figures.
//
//	go test -run '^$' -bench RawCommitLatency -benchtime 2000x ./pkg/store/
func BenchmarkRawCommitLatency(b *testing.B) {
	s, err := Open(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := []byte(strings.Repeat("v", 200))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := s.CommitQueueOps(ctx, []QueueOp{{Kind: QueuePutMessage, QueueID: "rawlat", ID: strconv.Itoa(i), Encoded: val}}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}
