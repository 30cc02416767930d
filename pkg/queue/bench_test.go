package queue

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue/qlog"
	"github.com/orch-project/orch/pkg/store"
)

func benchBroker(tb testing.TB) *Broker {
	st, err := store.Open(context.Background(), store.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// QBENCH_PIPELINES=n compares commit pipelines (Options.CommitPipelines).
	p, _ := strconv.Atoi(os.Getenv("QBENCH_PIPELINES"))
	svc := New(st, Options{CommitPipelines: p, LogDir: testLogDir(tb)})
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

// BenchmarkLifecycle is the cost model of docs/queues.md: 4 producers and 4
// consumers move b.N 100-byte messages through one queue (send, receive,
// delete) without HTTP, 10 per call (Batch10) or one per call (Batch1), and
// it reports what etcd did per message: transactions, operations, key plus
// value bytes, and WAL fsyncs (etcd's own counter), besides msgs/s.
func BenchmarkLifecycle(b *testing.B) {
	for _, batch := range []int{10, 1} {
		b.Run(fmt.Sprintf("Batch%d", batch), func(b *testing.B) { benchLifecycle(b, batch) })
	}
}

func benchLifecycle(b *testing.B, batch int) {
	svc := benchBroker(b)
	ctx := context.Background()
	if _, err := svc.CreateQueue(ctx, "cost", nil, nil); err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 100)
	var toSend, toDelete atomic.Int64
	toSend.Store(int64(b.N))
	toDelete.Store(int64(b.N))
	t0, o0, by0 := store.QueueCommitStats()
	l0 := qlog.Totals()
	f0 := walFsyncs(b)
	c0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				n := min(int64(batch), toSend.Add(-int64(batch))+int64(batch))
				if n <= 0 {
					return
				}
				es := make([]SendEntry, n)
				for i := range es {
					es[i] = SendEntry{ID: fmt.Sprint(i), Body: body}
				}
				if _, fails, err := svc.SendMessageBatch(ctx, "cost", es); err != nil || len(fails) > 0 {
					b.Errorf("send: %v %v", err, fails)
					return
				}
			}
		})
		wg.Go(func() {
			wait := 1
			for toDelete.Load() > 0 {
				ms, err := svc.ReceiveMessage(ctx, "cost", ReceiveInput{MaxNumberOfMessages: batch, WaitTimeSeconds: &wait})
				if err != nil {
					b.Errorf("receive: %v", err)
					return
				}
				if len(ms) == 0 {
					continue
				}
				hs := make([]BatchHandle, len(ms))
				for i, m := range ms {
					hs[i] = BatchHandle{ID: fmt.Sprint(i), Handle: m.ReceiptHandle}
				}
				if _, fails, err := svc.DeleteMessageBatch(ctx, "cost", hs); err != nil || len(fails) > 0 {
					b.Errorf("delete: %v %v", err, fails)
					return
				}
				toDelete.Add(-int64(len(ms)))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu := cpuTime() - c0
	t1, o1, by1 := store.QueueCommitStats()
	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/msg")
	b.ReportMetric(float64(t1-t0)/n, "etcd-txns/msg")
	b.ReportMetric(float64(o1-o0)/n, "etcd-ops/msg")
	b.ReportMetric(float64(by1-by0)/n, "etcd-bytes/msg")
	b.ReportMetric(float64(walFsyncs(b)-f0)/n, "wal-fsyncs/msg")
	l1 := qlog.Totals()
	b.ReportMetric(float64(l1.Appends-l0.Appends)/n, "log-fsyncs/msg")
	b.ReportMetric(float64(l1.Records-l0.Records)/n, "log-records/msg")
	b.ReportMetric(float64(l1.Bytes-l0.Bytes)/n, "log-bytes/msg")
}

// walFsyncs is how many times the embedded etcd has fsynced its WAL (the
// count of its etcd_disk_wal_fsync_duration_seconds histogram).
func walFsyncs(tb testing.TB) uint64 {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "etcd_disk_wal_fsync_duration_seconds" {
			var c uint64
			for _, m := range mf.GetMetric() {
				c += m.GetHistogram().GetSampleCount()
			}
			return c
		}
	}
	tb.Fatal("etcd_disk_wal_fsync_duration_seconds is not registered: cannot count fsyncs")
	return 0
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReceiveAllAttributes is a queue trigger's receive: 10 messages
// with every system and message attribute ("All"), which Lambda's SQS
// event carries. Sends and deletes run with the timer stopped, 100
// batches at a time.
func BenchmarkReceiveAllAttributes(b *testing.B) {
	svc := benchBroker(b)
	ctx := context.Background()
	if _, err := svc.CreateQueue(ctx, "attrs", nil, nil); err != nil {
		b.Fatal(err)
	}
	es := make([]SendEntry, 10)
	for i := range es {
		es[i] = SendEntry{ID: fmt.Sprint(i), Body: `{"id":"o1","customer":"c","drink":"latte","price":3}`,
			Attributes: map[string]model.MessageAttributeValue{"shop": {DataType: "String", StringValue: "north"}}}
	}
	all := []string{"All"}
	wait := 0
	in := ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &wait, AttributeNames: all, MessageAttributeNames: all}
	var received [][]BatchHandle
	cycle := func() { // delete what was received, send the next 100 batches
		for _, hs := range received {
			if _, fails, err := svc.DeleteMessageBatch(ctx, "attrs", hs); err != nil || len(fails) > 0 {
				b.Fatal(err, fails)
			}
		}
		received = received[:0]
		for range 100 {
			if _, fails, err := svc.SendMessageBatch(ctx, "attrs", es); err != nil || len(fails) > 0 {
				b.Fatal(err, fails)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%100 == 0 {
			b.StopTimer()
			cycle()
			b.StartTimer()
		}
		ms, err := svc.ReceiveMessage(ctx, "attrs", in)
		if err != nil || len(ms) != 10 || len(ms[0].Attributes) != 4 || len(ms[0].MessageAttributes) != 1 {
			b.Fatalf("received %d messages (%v), err %v", len(ms), ms, err)
		}
		hs := make([]BatchHandle, len(ms))
		for j, m := range ms {
			hs[j] = BatchHandle{ID: fmt.Sprint(j), Handle: m.ReceiptHandle}
		}
		received = append(received, hs)
	}
}
