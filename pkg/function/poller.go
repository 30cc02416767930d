package function

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// Queue is what a queue event source needs from the broker.
type Queue interface {
	ReceiveMessage(ctx context.Context, name string, in queue.ReceiveInput) ([]queue.ReceivedMessage, error)
	DeleteMessageBatch(ctx context.Context, name string, es []queue.BatchHandle) ([]string, []queue.BatchError, error)
}

// Invoker runs a function synchronously: the response (or error document),
// whether the function failed (an error, a panic, a timeout), or err when
// it could not run at all (throttled, no environment).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (resp []byte, failed bool, err error)
}

// QueueSource is one enabled queue event source mapping.
type QueueSource struct {
	Mapping   model.EventSourceMapping // normalized and validated
	QueueName string
	Log       *slog.Logger
	// OnBatch, when set, is told each batch's outcome (tests, metrics).
	OnBatch func(received, deleted int, reason string)
}

// DefaultQueueConcurrency is how many batches a mapping without
// ScalingConfig runs at once (Lambda starts with five pollers).
const DefaultQueueConcurrency = 5

// Run polls the queue and invokes the function until ctx ends, as Lambda's
// SQS event source does: batches of up to BatchSize, gathered for at most
// MaximumBatchingWindowInSeconds; success deletes the batch; a failure
// leaves it to reappear after the visibility timeout (and reach the
// dead-letter queue through the queue's redrive policy); with
// ReportBatchItemFailures only the listed messages stay. At most
// ScalingConfig.MaximumConcurrency batches run at once.
func (s QueueSource) Run(ctx context.Context, q Queue, inv Invoker) {
	n := DefaultQueueConcurrency
	if s.Mapping.ScalingConfig != nil {
		n = s.Mapping.ScalingConfig.MaximumConcurrency
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := s.once(ctx, q, inv); err != nil && ctx.Err() == nil {
					log.Warn("queue event source", "queue", s.QueueName, "function", s.Mapping.FunctionName, "err", err)
					select { // a broken queue or function: do not spin
					case <-time.After(time.Second):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	wg.Wait()
}

// once receives one batch, invokes the function with it and deletes what
// the outcome says.
func (s QueueSource) once(ctx context.Context, q Queue, inv Invoker) error {
	msgs, err := s.gather(ctx, q)
	if err != nil || len(msgs) == 0 {
		return err
	}
	doc, err := SQSEvent(s.Mapping.EventSourceArn, msgs)
	if err != nil {
		return err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MessageID
	}
	resp, failed, err := inv.Invoke(ctx, s.Mapping.FunctionName, doc)
	if err != nil {
		// Never ran: the batch reappears after its visibility timeout.
		if s.OnBatch != nil {
			s.OnBatch(len(msgs), 0, err.Error())
		}
		return err
	}
	del, reason := BatchOutcome(ids, resp, failed, s.Mapping.ReportsBatchItemFailures())
	var hs []queue.BatchHandle
	for i, m := range msgs {
		if del[i] {
			hs = append(hs, queue.BatchHandle{ID: strconv.Itoa(i), Handle: m.ReceiptHandle})
		}
	}
	deleted := 0
	for len(hs) > 0 {
		k := min(10, len(hs))
		ok, fails, err := q.DeleteMessageBatch(context.WithoutCancel(ctx), s.QueueName, hs[:k])
		if err != nil {
			return err
		}
		deleted += len(ok)
		for _, f := range fails {
			// A handle that expired (the batch ran past the visibility
			// timeout) cannot be deleted: the message runs again.
			if !errors.Is(f.Err, context.Canceled) {
				s.logger().Warn("deleting a processed message", "queue", s.QueueName, "err", f.Err)
			}
		}
		hs = hs[k:]
	}
	if s.OnBatch != nil {
		s.OnBatch(len(msgs), deleted, reason)
	}
	return nil
}

func (s QueueSource) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// gather receives up to BatchSize messages: it long-polls for the first,
// then keeps receiving (without waiting) until the batch is full or the
// batching window has passed.
func (s QueueSource) gather(ctx context.Context, q Queue) ([]queue.ReceivedMessage, error) {
	size := s.Mapping.BatchSize
	all := []string{"All"}
	wait := 20
	var out []queue.ReceivedMessage
	deadline := time.Now().Add(time.Duration(s.Mapping.MaximumBatchingWindowInSeconds) * time.Second)
	for len(out) < size {
		w := wait
		if len(out) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			w = min(int(left/time.Second), 20)
		}
		msgs, err := q.ReceiveMessage(ctx, s.QueueName, queue.ReceiveInput{
			MaxNumberOfMessages: min(10, size-len(out)), WaitTimeSeconds: &w,
			AttributeNames: all, MessageAttributeNames: all,
		})
		if err != nil {
			if len(out) > 0 {
				return out, nil // run what we have; the error recurs next time
			}
			return nil, err
		}
		out = append(out, msgs...)
		if len(out) > 0 && s.Mapping.MaximumBatchingWindowInSeconds == 0 {
			break
		}
		if len(msgs) == 0 && len(out) > 0 {
			break
		}
	}
	return out, nil
}
