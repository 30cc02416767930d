package functions

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

type poolInvoker struct{ p *lambdart.Pool }

func (pi poolInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, bool, error) {
	r, err := pi.p.Invoke(ctx, fn, "", payload)
	return r.Payload, r.FunctionError != "", err
}

func testBroker(b *testing.B) *queue.Broker {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	br := queue.New(st, queue.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- br.Run(bctx) }()
	b.Cleanup(func() { cancel(); <-done; st.Close() })
	for !br.Owned() {
		time.Sleep(10 * time.Millisecond)
	}
	return br
}

func fill(b *testing.B, br *queue.Broker, name string, n int) {
	ctx := context.Background()
	for i := 0; i < n; i += 10 {
		es := make([]queue.SendEntry, 10)
		for j := range es {
			es[j] = queue.SendEntry{ID: fmt.Sprint(j), Body: fmt.Sprintf(`{"id":"o%d","customer":"c","drink":"latte","price":3}`, i+j)}
		}
		if _, fails, err := br.SendMessageBatch(ctx, name, es); err != nil || len(fails) > 0 {
			b.Fatal(err, fails)
		}
	}
}

// BenchmarkQueueTrigger: b.N messages already in a queue, drained by the
// event source (batch size 10, 5 pollers) into the aws-lambda-go handler in
// a container (5 invocations per environment); beside the baseline, the
// same number drained by 5 plain receive+delete loops, in the same run.
func BenchmarkQueueTrigger(b *testing.B) {
	br := testBroker(b)
	ctx := context.Background()
	n := max(b.N, 1000)

	// Baseline: raw receive+delete throughput.
	if _, err := br.CreateQueue(ctx, "raw", nil, nil); err != nil {
		b.Fatal(err)
	}
	fill(b, br, "raw", n)
	var left atomic.Int64
	left.Store(int64(n))
	t0 := time.Now()
	var rawEnd atomic.Int64 // when the last message was deleted (not when the idle long polls return)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := 1
			for left.Load() > 0 {
				msgs, err := br.ReceiveMessage(ctx, "raw", queue.ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &w})
				if err != nil {
					b.Error(err)
					return
				}
				hs := make([]queue.BatchHandle, len(msgs))
				for i, m := range msgs {
					hs[i] = queue.BatchHandle{ID: fmt.Sprint(i), Handle: m.ReceiptHandle}
				}
				if len(hs) > 0 {
					ok, _, err := br.DeleteMessageBatch(ctx, "raw", hs)
					if err != nil {
						b.Error(err)
						return
					}
					if left.Add(-int64(len(ok))) <= 0 {
						rawEnd.CompareAndSwap(0, time.Now().UnixNano())
					}
				}
			}
		}()
	}
	wg.Wait()
	raw := float64(n) / time.Unix(0, rawEnd.Load()).Sub(t0).Seconds()

	// The trigger.
	name := fmt.Sprintf("bench-q-%d", time.Now().UnixNano()%1e9)
	p := dockerPool(b, lambdart.PoolConfig{PerEnvironment: 5}, lambdart.Function{Name: name, MemoryMiB: 128, Timeout: 5 * time.Second})
	if _, err := p.Invoke(ctx, name, "", []byte(`{"echo":1}`)); err != nil { // warm
		b.Fatal(err)
	}
	if _, err := br.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "30"}, nil); err != nil {
		b.Fatal(err)
	}
	fill(b, br, "orders", n)
	m := model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"), FunctionName: name,
		FunctionResponseTypes: []string{"ReportBatchItemFailures"}, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: 5}}
	m.Normalize()
	var deleted atomic.Int64
	finished := make(chan struct{})
	var once sync.Once
	src := function.QueueSource{Mapping: m, QueueName: "orders", OnBatch: func(r, d int, reason string) {
		if deleted.Add(int64(d)) >= int64(n) {
			once.Do(func() { close(finished) })
		}
	}}
	b.ResetTimer()
	t0 = time.Now()
	sctx, cancel := context.WithCancel(ctx)
	sdone := make(chan struct{})
	go func() { src.Run(sctx, br, poolInvoker{p}); close(sdone) }()
	select {
	case <-finished:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d messages processed", deleted.Load(), n)
	}
	trig := float64(n) / time.Since(t0).Seconds()
	b.StopTimer()
	cancel()
	<-sdone
	b.ReportMetric(trig, "trigger-msgs/s")
	b.ReportMetric(raw, "raw-msgs/s")
	b.ReportMetric(trig/raw, "ratio")
}
