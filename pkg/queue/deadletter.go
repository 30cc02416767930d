package queue

import (
	"context"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// deadLetter moves messages received too often to the source queue's
// dead-letter queue: one transaction deletes them from the source and
// stores them in the dead-letter queue (or, when it is in another shard,
// in that shard's inbox: inbox.go).
func (o *owner) deadLetter(src *queue, ms []*message) {
	src.mu.Lock()
	var dlqName string
	if src.cfg.Redrive != nil {
		dlqName = model.QueueNameFromArn(src.cfg.Redrive.DeadLetterTargetArn)
	}
	srcArn, srcID := src.arn, src.meta.ID
	src.mu.Unlock()
	edit := func(m *model.QueueMessage) { m.DeadLetterSourceArn = srcArn }
	if o.b.shardOf(dlqName) != o.shard {
		if err := o.transferAcross(context.Background(), srcID, dlqName, ms, edit); err != nil {
			o.b.log.Warn("moving messages to the dead-letter queue failed; they stay in their queue", "queue", src.meta.Name, "deadLetterQueue", dlqName, "err", err)
			o.putBack(src, ms)
		}
		return
	}
	dlq, err := o.queue(dlqName)
	if err != nil {
		o.b.log.Warn("dead-letter queue missing; messages stay in their queue", "queue", src.meta.Name, "deadLetterQueue", dlqName)
		o.putBack(src, ms)
		return
	}
	if err := o.transfer(context.Background(), src, srcID, dlq, ms, edit); err != nil {
		o.b.log.Warn("moving messages to the dead-letter queue failed; they stay in their queue", "queue", src.meta.Name, "err", err)
		o.putBack(src, ms)
	}
}

func (o *owner) putBack(q *queue, ms []*message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return
	}
	now := o.b.clock.Now().UnixNano()
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
	now := o.b.clock.Now()
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
	nowNs := o.b.clock.Now().UnixNano()
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
