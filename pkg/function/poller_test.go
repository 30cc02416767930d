package function

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

type poolInvoker struct{ p *lambdart.Pool }

func (pi poolInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, bool, error) {
	r, err := pi.p.Invoke(ctx, fn, "", payload)
	return r.Payload, r.FunctionError != "", err
}

// A real broker on embedded etcd, the real aws-lambda-go handler: good
// orders are deleted after their receipt, the records the handler reports
// as failures reappear and reach the dead-letter queue by the redrive
// policy, and nothing is lost.
func TestQueueSourcePartialFailuresReachTheDeadLetterQueue(t *testing.T) {
	// Built before the clock starts: on a loaded CI machine the build
	// alone took a good part of the minute the rest is given.
	bin := filepath.Join(t.TempDir(), "receipt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/apps/receipt").CombinedOutput(); err != nil {
		t.Fatalf("building the handler: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := queue.New(st, queue.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	bctx, bcancel := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	go func() { bdone <- b.Run(bctx) }()
	defer func() { bcancel(); <-bdone }()
	for !b.Owned() {
		if ctx.Err() != nil {
			t.Fatal("the broker never owned the queues")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.CreateQueue(ctx, "orders-dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	dlqArn := model.QueueArn(model.DefaultRegion, "orders-dlq")
	if _, err := b.CreateQueue(ctx, "orders", map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, dlqArn),
	}, nil); err != nil {
		t.Fatal(err)
	}
	const total, bad = 30, 3
	for i := range total {
		body := fmt.Sprintf(`{"id":"o%d","customer":"c","drink":"latte","price":3}`, i)
		if i%10 == 0 {
			body = fmt.Sprintf("bad order %d", i)
		}
		if _, err := b.SendMessage(ctx, "orders", queue.SendEntry{Body: body}); err != nil {
			t.Fatal(err)
		}
	}

	pool := lambdart.NewPool(lambdart.PoolConfig{Launcher: lambdart.ProcessLauncher{}, PerEnvironment: 2})
	defer pool.Close()
	pool.Put(lambdart.Function{Name: "receipts", Image: bin, MemoryMiB: 128, Timeout: 1 * time.Second})

	m := model.EventSourceMapping{EventSourceArn: model.QueueArn(model.DefaultRegion, "orders"), FunctionName: "receipts",
		FunctionResponseTypes: []string{"ReportBatchItemFailures"}, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: 2}}
	m.Normalize()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deleted, received := 0, 0
	src := QueueSource{Mapping: m, QueueName: "orders", OnBatch: func(r, d int, reason string) {
		mu.Lock()
		received += r
		deleted += d
		mu.Unlock()
	}}
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan struct{})
	go func() { src.Run(sctx, b, poolInvoker{pool}); close(sdone) }()
	defer func() { scancel(); <-sdone }()

	// The good orders are deleted; the bad ones end in the DLQ.
	var inDLQ []string
	for {
		w := 1
		msgs, err := b.ReceiveMessage(ctx, "orders-dlq", queue.ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &w})
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		for _, mm := range msgs {
			inDLQ = append(inDLQ, mm.Body)
			_ = b.DeleteMessage(ctx, "orders-dlq", mm.ReceiptHandle)
		}
		mu.Lock()
		d := deleted
		mu.Unlock()
		if d == total-bad && len(inDLQ) == bad {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("deleted %d of %d good orders, %d of %d bad ones in the DLQ (%v)", d, total-bad, len(inDLQ), bad, inDLQ)
		}
	}
	for _, body := range inDLQ {
		if !strings.HasPrefix(body, "bad order") {
			t.Fatalf("a good order reached the DLQ: %q", body)
		}
	}
	attrs, err := b.GetQueueAttributes(ctx, "orders", []string{"All"})
	if err != nil {
		t.Fatal(err)
	}
	if attrs["ApproximateNumberOfMessages"] != "0" || attrs["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("orders queue not empty: %v", attrs)
	}
	st2, _ := pool.Stats("receipts")
	if st2.Invocations == 0 || st2.Errors != 0 {
		t.Fatalf("pool stats %+v: partial failures are not function errors", st2)
	}
}
