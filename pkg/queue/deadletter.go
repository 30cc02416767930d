package queue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// deadLetter moves messages received too often to the source queue's
// dead-letter queue: one transaction deletes them from the source and
// stores them in the dead-letter queue.
func (o *owner) deadLetter(src *queue, ms []*message) {
	src.mu.Lock()
	var dlqName string
	if src.cfg.Redrive != nil {
		dlqName = model.QueueNameFromArn(src.cfg.Redrive.DeadLetterTargetArn)
	}
	srcArn, srcID := src.arn, src.meta.ID
	src.mu.Unlock()
	dlq, err := o.queue(dlqName)
	if err != nil {
		o.svc.log.Warn("dead-letter queue missing; messages stay in their queue", "queue", src.meta.Name, "deadLetterQueue", dlqName)
		o.putBack(src, ms)
		return
	}
	if err := o.transfer(context.Background(), src, srcID, dlq, ms, func(m *model.QueueMessage) { m.DeadLetterSourceArn = srcArn }); err != nil {
		o.svc.log.Warn("moving messages to the dead-letter queue failed; they stay in their queue", "queue", src.meta.Name, "err", err)
		o.putBack(src, ms)
	}
}

func (o *owner) putBack(q *queue, ms []*message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return
	}
	now := time.Now().UnixNano()
	for _, m := range ms {
		if q.msgs[m.MessageID] == nil {
			q.insert(m.QueueMessage, now)
		}
	}
}

// transfer stores copies of ms (already taken out of src's memory) in dst
// and deletes them from src in one transaction, then enqueues them in dst.
func (o *owner) transfer(ctx context.Context, src *queue, srcID string, dst *queue, ms []*message, edit func(*model.QueueMessage)) error {
	dst.mu.Lock()
	if dst.deleted {
		dst.mu.Unlock()
		return ErrQueueDoesNotExist
	}
	dstID := dst.meta.ID
	now := time.Now()
	recs := make([]*model.QueueMessage, len(ms))
	for i, m := range ms {
		c := *m.QueueMessage
		c.Seq = dst.nextSeq(now)
		c.VisibleAtMs = 0
		edit(&c)
		recs[i] = &c
	}
	dst.pending.Add(1)
	dst.mu.Unlock()
	defer dst.pending.Done()
	ops := make([]store.QueueOp, 0, 2*len(ms))
	for i, m := range ms {
		ops = append(ops,
			store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: srcID, ID: m.MessageID},
			store.QueueOp{Kind: store.QueuePutMessage, QueueID: dstID, ID: recs[i].MessageID, Message: recs[i]})
	}
	if err := o.com.commit(ctx, ops...); err != nil {
		return err
	}
	nowNs := time.Now().UnixNano()
	dst.mu.Lock()
	if !dst.deleted {
		for _, r := range recs {
			if dst.msgs[r.MessageID] == nil {
				dst.insert(r, nowNs)
			}
		}
	}
	dst.mu.Unlock()
	return nil
}

// Move task statuses (ListMessageMoveTasks).
const (
	MoveRunning    = "RUNNING"
	MoveCompleted  = "COMPLETED"
	MoveCancelling = "CANCELLING"
	MoveCancelled  = "CANCELLED"
	MoveFailed     = "FAILED"
)

// MoveTask describes a message move task (redrive from a dead-letter queue).
type MoveTask struct {
	TaskHandle                        string
	Status                            string
	SourceArn                         string
	DestinationArn                    string
	MaxNumberOfMessagesPerSecond      int
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     string
	StartedTimestamp                  int64 // unix ms
}

type moveTask struct {
	mu     sync.Mutex
	info   MoveTask
	cancel chan struct{}
}

func (t *moveTask) snapshot() MoveTask {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

// StartMessageMoveTask moves the messages of a dead-letter queue to
// destArn, or each back to the queue it came from when destArn is "".
func (s *Service) StartMessageMoveTask(ctx context.Context, sourceArn, destArn string, rate int) (string, error) {
	o, err := s.owner(ctx)
	if err != nil {
		return "", err
	}
	src, err := o.queue(model.QueueNameFromArn(sourceArn))
	if err != nil {
		return "", ErrResourceNotFound.With("The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	if rate == 0 {
		rate = 500
	}
	if rate < 1 || rate > 500 {
		return "", ErrInvalidParameterValue.With("Value %d for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.", rate)
	}
	var dst *queue
	if destArn != "" {
		if dst, err = o.queue(model.QueueNameFromArn(destArn)); err != nil {
			return "", ErrResourceNotFound.With("The resource that you specified for the DestinationArn parameter doesn't exist.")
		}
	}
	srcName := model.QueueNameFromArn(sourceArn)
	sources, _ := s.ListDeadLetterSourceQueues(ctx, srcName)
	if len(sources) == 0 {
		return "", ErrInvalidParameterValue.With("Source queue must be configured as a Dead Letter Queue.")
	}
	src.mu.Lock()
	for _, t := range src.moves {
		if st := t.snapshot().Status; st == MoveRunning || st == MoveCancelling {
			src.mu.Unlock()
			return "", ErrUnsupportedOperation.With("There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
		}
	}
	o.mu.Lock()
	o.moveSeq++
	seq := o.moveSeq
	o.mu.Unlock()
	hb, _ := json.Marshal(map[string]any{"taskId": seq, "sourceArn": src.arn, "started": time.Now().UnixNano()})
	t := &moveTask{cancel: make(chan struct{}), info: MoveTask{
		TaskHandle: base64.StdEncoding.EncodeToString(hb), Status: MoveRunning, SourceArn: src.arn,
		DestinationArn: destArn, MaxNumberOfMessagesPerSecond: rate,
		ApproximateNumberOfMessagesToMove: int64(src.nVisible + src.nInflight + src.nDelayed), StartedTimestamp: time.Now().UnixMilli(),
	}}
	src.moves = append(src.moves, t)
	if len(src.moves) > 10 {
		src.moves = src.moves[len(src.moves)-10:]
	}
	src.mu.Unlock()
	go o.runMove(t, src, dst)
	return t.info.TaskHandle, nil
}

func (o *owner) runMove(t *moveTask, src, dst *queue) {
	finish := func(status, reason string) {
		t.mu.Lock()
		t.info.Status, t.info.FailureReason = status, reason
		t.mu.Unlock()
	}
	start := time.Now()
	var moved int64
	toMove := t.snapshot().ApproximateNumberOfMessagesToMove
	rate := t.snapshot().MaxNumberOfMessagesPerSecond
	for moved < toMove {
		select {
		case <-t.cancel:
			finish(MoveCancelled, "")
			return
		case <-o.ctx.Done():
			finish(MoveFailed, "the server stopped owning the queues")
			return
		default:
		}
		// Keep to the rate.
		if ahead := time.Duration(float64(moved)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
		n := int(min(10, toMove-moved, int64(rate)))
		src.mu.Lock()
		if src.deleted {
			src.mu.Unlock()
			finish(MoveFailed, "the source queue was deleted")
			return
		}
		r := src.take(n, 5*time.Minute, time.Now())
		for _, m := range r.got {
			m.ReceiveCount-- // a move is not a receive
			src.remove(m)
		}
		srcID := src.meta.ID
		src.mu.Unlock()
		if len(r.dead) > 0 {
			o.deadLetter(src, r.dead)
		}
		if len(r.got) == 0 {
			src.mu.Lock()
			waiting := src.nInflight + src.nDelayed
			src.mu.Unlock()
			if waiting == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond) // in flight elsewhere; wait for them to return
			continue
		}
		// Group by destination.
		byDst := map[*queue][]*message{}
		for _, m := range r.got {
			d := dst
			if d == nil {
				var err error
				if d, err = o.queue(model.QueueNameFromArn(m.DeadLetterSourceArn)); err != nil {
					o.putBack(src, r.got)
					finish(MoveFailed, "the original source queue of message "+m.MessageID+" does not exist; give a DestinationArn")
					return
				}
			}
			byDst[d] = append(byDst[d], m)
		}
		for d, ms := range byDst {
			err := o.transfer(o.ctx, src, srcID, d, ms, func(m *model.QueueMessage) {
				m.DeadLetterSourceArn = ""
				m.ReceiveCount = 0
				m.FirstReceiveMs = 0
			})
			if err != nil {
				o.putBack(src, ms)
				finish(MoveFailed, err.Error())
				return
			}
			moved += int64(len(ms))
		}
		t.mu.Lock()
		t.info.ApproximateNumberOfMessagesMoved = moved
		t.mu.Unlock()
	}
	finish(MoveCompleted, "")
}

// CancelMessageMoveTask stops a running move task and returns how many
// messages it moved.
func (s *Service) CancelMessageMoveTask(ctx context.Context, handle string) (int64, error) {
	o, err := s.owner(ctx)
	if err != nil {
		return 0, err
	}
	var h struct {
		SourceArn string `json:"sourceArn"`
	}
	b, err := base64.StdEncoding.DecodeString(handle)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return 0, ErrResourceNotFound.With("Task does not exist.")
	}
	src, err := o.queue(model.QueueNameFromArn(h.SourceArn))
	if err != nil {
		return 0, ErrResourceNotFound.With("Task does not exist.")
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, t := range src.moves {
		t.mu.Lock()
		if t.info.TaskHandle == handle {
			defer t.mu.Unlock()
			if t.info.Status != MoveRunning {
				return 0, ErrResourceNotFound.With("Task does not exist or is not running.")
			}
			t.info.Status = MoveCancelling
			close(t.cancel)
			return t.info.ApproximateNumberOfMessagesMoved, nil
		}
		t.mu.Unlock()
	}
	return 0, ErrResourceNotFound.With("Task does not exist.")
}

// ListMessageMoveTasks lists a source queue's most recent move tasks,
// newest first (at most max, 1 to 10; default 1).
func (s *Service) ListMessageMoveTasks(ctx context.Context, sourceArn string, max int) ([]MoveTask, error) {
	if max == 0 {
		max = 1
	}
	if max < 1 || max > 10 {
		return nil, ErrInvalidParameterValue.With("Value %d for parameter MaxResults is invalid. Reason: Must be between 1 and 10.", max)
	}
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	src, err := o.queue(model.QueueNameFromArn(sourceArn))
	if err != nil {
		return nil, ErrResourceNotFound.With("The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	src.mu.Lock()
	moves := append([]*moveTask(nil), src.moves...)
	src.mu.Unlock()
	var out []MoveTask
	for i := len(moves) - 1; i >= 0 && len(out) < max; i-- {
		out = append(out, moves[i].snapshot())
	}
	return out, nil
}
