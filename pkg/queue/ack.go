package queue

import (
	"context"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// DeleteMessage deletes a received message. A stale receipt handle (from an
// earlier receive) still deletes; deleting twice succeeds.
func (b *Broker) DeleteMessage(ctx context.Context, name, handle string) error {
	_, fails, err := b.deleteMessages(ctx, name, []BatchHandle{{Handle: handle}})
	if err != nil {
		return err
	}
	if len(fails) > 0 {
		return fails[0].err
	}
	return nil
}

// BatchHandle is a DeleteMessageBatch or ChangeMessageVisibilityBatch entry.
type BatchHandle struct {
	ID                string
	Handle            string
	VisibilityTimeout int
}

// DeleteMessageBatch deletes up to 10 messages.
func (b *Broker) DeleteMessageBatch(ctx context.Context, name string, es []BatchHandle) ([]string, []BatchError, error) {
	return runBatch(es, func(es []BatchHandle) ([]string, []entryFail, error) { return b.deleteMessages(ctx, name, es) })
}

// runBatch checks a batch's entries, runs do on them and turns per-entry
// failures into the batch errors SQS answers with.
func runBatch(es []BatchHandle, do func([]BatchHandle) ([]string, []entryFail, error)) ([]string, []BatchError, error) {
	if err := CheckBatch(len(es), func(i int) string { return es[i].ID }); err != nil {
		return nil, nil, err
	}
	ok, fails, err := do(es)
	if err != nil {
		return nil, nil, err
	}
	var bes []BatchError
	for _, f := range fails {
		bes = append(bes, BatchError{ID: f.id, Err: f.err})
	}
	return ok, bes, nil
}

func (b *Broker) deleteMessages(ctx context.Context, name string, es []BatchHandle) ([]string, []entryFail, error) {
	o, q, err := b.lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var okIDs []string
	var fails []entryFail
	var ops []store.QueueOp
	var ms []*message
	q.mu.Lock()
	qid := q.meta.ID
	for _, e := range es {
		id, _, err := q.parseHandle(e.Handle)
		if err != nil {
			fails = append(fails, entryFail{e.ID, err})
			continue
		}
		okIDs = append(okIDs, e.ID)
		if m := q.msgs[id]; m != nil {
			ms = append(ms, m)
			ops = append(ops, store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: qid, ID: id})
		}
	}
	q.mu.Unlock()
	if err := o.com.commit(ctx, ops...); err != nil {
		return nil, nil, err
	}
	if len(ms) > 0 {
		q.mu.Lock()
		for _, m := range ms {
			q.remove(m)
		}
		q.mu.Unlock()
	}
	return okIDs, fails, nil
}

// ChangeMessageVisibility sets how long more a received message stays
// invisible (0: visible now).
func (b *Broker) ChangeMessageVisibility(ctx context.Context, name, handle string, seconds int) error {
	_, fails, err := b.changeVisibility(ctx, name, []BatchHandle{{Handle: handle, VisibilityTimeout: seconds}})
	if err != nil {
		return err
	}
	if len(fails) > 0 {
		return fails[0].err
	}
	return nil
}

// ChangeMessageVisibilityBatch changes the visibility of up to 10 messages.
func (b *Broker) ChangeMessageVisibilityBatch(ctx context.Context, name string, es []BatchHandle) ([]string, []BatchError, error) {
	return runBatch(es, func(es []BatchHandle) ([]string, []entryFail, error) { return b.changeVisibility(ctx, name, es) })
}

func (b *Broker) changeVisibility(ctx context.Context, name string, es []BatchHandle) ([]string, []entryFail, error) {
	_, q, err := b.lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var okIDs []string
	var fails []entryFail
	now := b.clock.Now().UnixNano()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range es {
		id, gen, err := q.parseHandle(e.Handle)
		if err == nil && (e.VisibilityTimeout < 0 || e.VisibilityTimeout > model.MaxVisibilityTimeout) {
			err = ErrInvalidParameterValue.With("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.", e.VisibilityTimeout)
		}
		if err == nil {
			m := q.msgs[id]
			switch {
			case m == nil || m.state != stInflight || m.gen != gen:
				err = ErrMessageNotInflight.With("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", e.Handle)
			case e.VisibilityTimeout == 0:
				q.release(m)
			default:
				m.due = now + int64(e.VisibilityTimeout)*int64(time.Second)
				q.pushTimer(m)
				q.armTimer(now)
			}
		}
		if err != nil {
			fails = append(fails, entryFail{e.ID, err})
			continue
		}
		okIDs = append(okIDs, e.ID)
	}
	return okIDs, fails, nil
}
