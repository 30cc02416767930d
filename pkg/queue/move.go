package queue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

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
func (b *Broker) StartMessageMoveTask(ctx context.Context, sourceArn, destArn string, rate int) (string, error) {
	o, err := b.ownerOf(ctx, model.QueueNameFromArn(sourceArn))
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
	var dst string
	if destArn != "" {
		dst = model.QueueNameFromArn(destArn)
		if _, err = o.queueInfo(ctx, dst); err != nil {
			return "", ErrResourceNotFound.With("The resource that you specified for the DestinationArn parameter doesn't exist.")
		}
	}
	srcName := model.QueueNameFromArn(sourceArn)
	sources, _ := b.ListDeadLetterSourceQueues(ctx, srcName)
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
	now := b.clock.Now()
	hb, _ := json.Marshal(map[string]any{"taskId": seq, "sourceArn": src.arn, "started": now.UnixNano()})
	t := &moveTask{cancel: make(chan struct{}), info: MoveTask{
		TaskHandle: base64.StdEncoding.EncodeToString(hb), Status: MoveRunning, SourceArn: src.arn,
		DestinationArn: destArn, MaxNumberOfMessagesPerSecond: rate,
		ApproximateNumberOfMessagesToMove: int64(src.nVisible + src.nInflight + src.nDelayed), StartedTimestamp: now.UnixMilli(),
	}}
	src.moves = append(src.moves, t)
	if len(src.moves) > 10 {
		src.moves = src.moves[len(src.moves)-10:]
	}
	src.mu.Unlock()
	o.goBackground(func() { o.runMove(t, src, dst) })
	return t.info.TaskHandle, nil
}

// runMove moves a dead-letter queue's messages, at most rate per second,
// until they are all moved, the task is cancelled or the owner stops. dst
// names the destination ("": each message's source queue); one in another
// shard is reached through its inbox.
func (o *owner) runMove(t *moveTask, src *queue, dst string) {
	finish := func(status, reason string) {
		t.mu.Lock()
		t.info.Status, t.info.FailureReason = status, reason
		t.mu.Unlock()
	}
	clock := o.b.clock
	start := clock.Now()
	var moved int64
	info := t.snapshot()
	toMove, rate := info.ApproximateNumberOfMessagesToMove, info.MaxNumberOfMessagesPerSecond
	for moved < toMove {
		// Keep to the rate: wait until moved messages are due by now.
		ahead := time.Duration(float64(moved)/float64(rate)*float64(time.Second)) - clock.Now().Sub(start)
		switch o.waitMove(t, ahead) {
		case moveCancelled:
			finish(MoveCancelled, "")
			return
		case moveOwnerStopped:
			finish(MoveFailed, "the server stopped owning the queues")
			return
		}
		n := int(min(10, toMove-moved, int64(rate)))
		src.mu.Lock()
		if src.deleted {
			src.mu.Unlock()
			finish(MoveFailed, "the source queue was deleted")
			return
		}
		r := src.take(n, 5*time.Minute, clock.Now())
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
			// In flight elsewhere or delayed: look again shortly.
			switch o.waitMove(t, 100*time.Millisecond) {
			case moveCancelled:
				finish(MoveCancelled, "")
				return
			case moveOwnerStopped:
				finish(MoveFailed, "the server stopped owning the queues")
				return
			}
			continue
		}
		// Group by destination.
		byDst := map[string][]*message{}
		for _, m := range r.got {
			d := dst
			if d == "" {
				d = model.QueueNameFromArn(m.DeadLetterSourceArn)
				if _, err := o.queueInfo(o.ctx, d); err != nil {
					o.putBack(src, r.got)
					finish(MoveFailed, "the original source queue of message "+m.MessageID+" does not exist; give a DestinationArn")
					return
				}
			}
			byDst[d] = append(byDst[d], m)
		}
		reset := func(m *model.QueueMessage) {
			m.DeadLetterSourceArn = ""
			m.ReceiveCount = 0
			m.FirstReceiveMs = 0
		}
		for d, ms := range byDst {
			var err error
			if o.b.shardOf(d) != o.shard {
				err = o.transferAcross(o.ctx, srcID, d, ms, reset)
			} else if dq, qerr := o.queue(d); qerr != nil {
				err = qerr
			} else {
				err = o.transfer(o.ctx, src, srcID, dq, ms, reset)
			}
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

// Outcomes of waitMove.
const (
	moveGoOn = iota
	moveCancelled
	moveOwnerStopped
)

// waitMove waits d on the broker's clock (not at all when d <= 0), or
// until the task is cancelled or the owner stops, whichever comes first.
func (o *owner) waitMove(t *moveTask, d time.Duration) int {
	var tick <-chan struct{}
	if d > 0 {
		var release func()
		tick, release = after(o.b.clock, d)
		defer release()
	}
	select {
	case <-t.cancel:
		return moveCancelled
	case <-o.ctx.Done():
		return moveOwnerStopped
	case <-tick:
		return moveGoOn
	default:
		if d <= 0 {
			return moveGoOn
		}
	}
	select {
	case <-t.cancel:
		return moveCancelled
	case <-o.ctx.Done():
		return moveOwnerStopped
	case <-tick:
		return moveGoOn
	}
}

// MoveTaskSource is the source queue ARN a move task's handle names (the
// queue CancelMessageMoveTask acts on, and is authorized on).
func MoveTaskSource(handle string) (string, error) {
	var h struct {
		SourceArn string `json:"sourceArn"`
	}
	raw, err := base64.StdEncoding.DecodeString(handle)
	if err != nil || json.Unmarshal(raw, &h) != nil || model.QueueNameFromArn(h.SourceArn) == "" {
		return "", ErrResourceNotFound.With("Task does not exist.")
	}
	return h.SourceArn, nil
}

// CancelMessageMoveTask stops a running move task and returns how many
// messages it moved.
func (b *Broker) CancelMessageMoveTask(ctx context.Context, handle string) (int64, error) {
	sourceArn, err := MoveTaskSource(handle)
	if err != nil {
		return 0, err
	}
	o, err := b.ownerOf(ctx, model.QueueNameFromArn(sourceArn))
	if err != nil {
		return 0, err
	}
	src, err := o.queue(model.QueueNameFromArn(sourceArn))
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
func (b *Broker) ListMessageMoveTasks(ctx context.Context, sourceArn string, max int) ([]MoveTask, error) {
	if max == 0 {
		max = 1
	}
	if max < 1 || max > 10 {
		return nil, ErrInvalidParameterValue.With("Value %d for parameter MaxResults is invalid. Reason: Must be between 1 and 10.", max)
	}
	o, err := b.ownerOf(ctx, model.QueueNameFromArn(sourceArn))
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
