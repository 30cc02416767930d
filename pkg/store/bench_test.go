package store

import (
	"context"
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
