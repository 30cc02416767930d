package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Messages that cross shards. A replica that must put a message into a
// queue of a shard it does not own (a topic delivery, a dead-letter move, a
// redrive) does not call the owner over HTTP: it writes the message into
// that shard's inbox in etcd (qinbox/<shard>/<queueId>/<id>), durably,
// before it reports success; for a move out of a queue it owns, the
// inbox write and the delete from the source are one guarded transaction.
// The shard's owner watches its inbox and moves each entry into the queue
// (message put and inbox entry delete in one transaction guarded by its
// election), applying FIFO deduplication as a send would. An inbox entry
// outlives any owner's death: the next owner of the shard finds it when it
// loads the inbox. Entries are absorbed in the order of their ids, which
// start with the writer's clock, so one writer's messages keep their order.

// Deliver sends one message to queue name from inside the cluster (topic
// deliveries): through this replica's memory when it owns the queue,
// otherwise durably through the queue's shard inbox. Either way the message
// is stored in etcd when Deliver returns nil. The result's MessageID is
// the message's (for a FIFO duplicate absorbed later, the new message is
// dropped then).
func (b *Broker) Deliver(ctx context.Context, name string, e SendEntry) (*SendResult, error) {
	shard := b.shardOf(name)
	if b.ownsShard(shard) {
		res, err := b.SendMessage(ctx, name, e)
		if !errors.Is(err, ErrNotOwner) && KindOf(err) != KindUnavailable {
			return res, err
		}
	}
	meta, err := b.st.GetQueue(ctx, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, ErrQueueDoesNotExist
	}
	if err != nil {
		return nil, ErrServiceUnavailable.With("reading queue %s failed: %v", name, err)
	}
	cfg := meta.Config()
	if err := validateSend(&e, &cfg, false); err != nil {
		return nil, err
	}
	delay := cfg.DelaySeconds
	if e.DelaySeconds != nil {
		delay = *e.DelaySeconds
	}
	rec := newRecord(&e, senderOf(ctx), b.clock.Now().UnixMilli(), delay, meta.Fifo())
	if err := b.st.PutQueueInbox(ctx, shard, meta.ID, inboxID(rec), store.InboxMessage{Queue: name, Message: rec}); err != nil {
		return nil, ErrServiceUnavailable.With("storing the message failed: %v", err)
	}
	return &SendResult{MessageID: rec.MessageID, MD5OfBody: rec.MD5OfBody, MD5OfAttributes: rec.MD5OfAttributes, MD5OfSysAttrs: rec.MD5OfSysAttrs}, nil
}

// newRecord is the stored form of a message sent with e.
func newRecord(e *SendEntry, sender string, nowMs int64, delay int, fifo bool) *model.QueueMessage {
	rec := &model.QueueMessage{
		MessageID: newMessageID(), Body: e.Body, Attributes: e.Attributes, TraceHeader: e.TraceHeader,
		SenderID: sender, SentMs: nowMs, GroupID: e.GroupID, DeduplicationID: e.DeduplicationID,
		MD5OfBody: MD5OfBody(e.Body), MD5OfAttributes: MD5OfAttributes(e.Attributes),
		MD5OfSysAttrs: MD5OfSystemAttributes(e.TraceHeader),
	}
	if delay > 0 {
		rec.VisibleAtMs = nowMs + int64(delay)*1000
	}
	if fifo && rec.DeduplicationID == "" {
		sum := sha256.Sum256([]byte(e.Body))
		rec.DeduplicationID = hex.EncodeToString(sum[:])
	}
	return rec
}

// inboxID orders inbox entries by their writer's clock.
func inboxID(rec *model.QueueMessage) string {
	return fmt.Sprintf("%016x-%s", time.Now().UnixNano(), rec.MessageID)
}

// dedupKeyOf is a FIFO message's deduplication key (as send computes it).
func dedupKeyOf(cfg *model.QueueConfig, rec *model.QueueMessage) string {
	k := rec.DeduplicationID
	if cfg.DeduplicationScope == "messageGroup" {
		k = rec.GroupID + "\x00" + k
	}
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:16])
}

// transferAcross moves ms (already taken out of src's memory) into queue
// dstName of another shard: one transaction, guarded by this shard's
// election, deletes them from src and writes them into the other shard's
// inbox.
func (o *owner) transferAcross(ctx context.Context, srcID, dstName string, ms []*message, edit func(*model.QueueMessage)) error {
	dst, err := o.queueInfo(ctx, dstName)
	if err != nil {
		return err
	}
	shard := o.b.shardOf(dstName)
	ops := make([]store.QueueOp, 0, 2*len(ms))
	for _, m := range ms {
		c := *m.QueueMessage
		c.VisibleAtMs, c.Seq = 0, 0
		edit(&c)
		ops = append(ops,
			store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: srcID, ID: m.MessageID},
			store.QueueOp{Kind: store.QueuePutInbox, Shard: shard, QueueID: dst.ID, QueueName: dstName, ID: inboxID(&c), Message: &c})
	}
	return o.com.commit(ctx, ops...)
}

type inboxEntry struct {
	key string // <queueId>/<id>
	msg *store.InboxMessage
}

// inboxLoop absorbs this shard's inbox until the owner stops: what is
// there when it starts, then every entry as it arrives. Entries for a
// queue this owner does not know yet (created a moment ago) are retried
// every second; entries for a deleted queue are dropped.
func (o *owner) inboxLoop() {
	c := o.b.st.QueueInboxCache(o.shard)
	sub := c.SubscribeFilter(func(ch store.Change[store.InboxMessage]) bool { return ch.Obj != nil })
	defer sub.Close()
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		_ = c.Run(o.ctx)
	}()
	seen := map[string]bool{} // absorbed (or being retried) by this owner
	var later []inboxEntry
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		var batch []inboxEntry
		select {
		case <-o.ctx.Done():
			return
		case <-sub.C():
			for _, ch := range sub.Drain() {
				if !seen[ch.Key] {
					batch = append(batch, inboxEntry{ch.Key, ch.Obj})
				}
			}
		case <-retry.C:
			batch, later = later, nil
			for _, e := range batch {
				delete(seen, e.key)
			}
		}
		if len(batch) == 0 {
			continue
		}
		for _, e := range batch {
			seen[e.key] = true
		}
		sort.Slice(batch, func(i, j int) bool { return entryID(batch[i].key) < entryID(batch[j].key) })
		for _, e := range o.absorb(batch) {
			later = append(later, e)
		}
		// Forget keys absorbed long ago: their deletes are committed.
		if len(seen) > 100000 {
			clear(seen)
			for _, e := range later {
				seen[e.key] = true
			}
		}
	}
}

func entryID(key string) string {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// absorb moves inbox entries into their queues and returns those to retry.
func (o *owner) absorb(batch []inboxEntry) (retry []inboxEntry) {
	byQueue := map[string][]inboxEntry{}
	var order []string
	for _, e := range batch {
		if e.msg.Message == nil {
			o.dropInbox(e)
			continue
		}
		if _, ok := byQueue[e.msg.Queue]; !ok {
			order = append(order, e.msg.Queue)
		}
		byQueue[e.msg.Queue] = append(byQueue[e.msg.Queue], e)
	}
	for _, name := range order {
		es := byQueue[name]
		qid := es[0].key[:strings.IndexByte(es[0].key, '/')]
		q, err := o.queue(name)
		if err == nil && q.metaCopy().ID != qid {
			err = ErrQueueDoesNotExist
		}
		if err != nil {
			// Created a moment ago (not in memory yet), or deleted.
			m, gerr := o.b.st.GetQueue(o.ctx, name)
			if gerr == nil && m.ID == qid || gerr != nil && !errors.Is(gerr, model.ErrNotFound) {
				retry = append(retry, es...)
				continue
			}
			for _, e := range es {
				o.dropInbox(e)
			}
			continue
		}
		for len(es) > 0 {
			n := min(len(es), max(1, o.com.maxOps/3))
			if err := o.absorbInto(q, qid, es[:n]); err != nil {
				if o.ctx.Err() == nil {
					o.b.log.Warn("moving inbox messages into their queue failed; retrying", "queue", name, "err", err)
				}
				retry = append(retry, es...)
				break
			}
			es = es[n:]
		}
	}
	return retry
}

// absorbInto commits es into q (message, FIFO deduplication record and
// the inbox entry's delete in one transaction) and enqueues them.
func (o *owner) absorbInto(q *queue, qid string, es []inboxEntry) error {
	now := o.b.clock.Now()
	nowMs := now.UnixMilli()
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return ErrQueueDoesNotExist
	}
	cfg, fifo := q.cfg, q.fifo
	recs := make([]*model.QueueMessage, 0, len(es))
	var claimed []string
	ops := make([]store.QueueOp, 0, 3*len(es))
	for _, e := range es {
		ops = append(ops, store.QueueOp{Kind: store.QueueDeleteInbox, Shard: o.shard, QueueID: qid, ID: entryID(e.key)})
		rec := *e.msg.Message
		rec.Seq = q.nextSeq(now)
		if fifo {
			k := dedupKeyOf(&cfg, &rec)
			if d, ok := q.dedup[k]; ok && d.expires > nowMs {
				continue // a duplicate within the window: dropped, as SendMessage would
			}
			q.dedup[k] = dedupEntry{msgID: rec.MessageID, expires: nowMs + model.FifoDedupWindowSeconds*1000, seq: rec.Seq}
			claimed = append(claimed, k)
			ops = append(ops, store.QueueOp{Kind: store.QueuePutDedup, QueueID: qid, ID: k,
				DedupMessageID: rec.MessageID, DedupExpiresMs: nowMs + model.FifoDedupWindowSeconds*1000})
		}
		ops = append(ops, store.QueueOp{Kind: store.QueuePutMessage, QueueID: qid, ID: rec.MessageID, Message: &rec})
		recs = append(recs, &rec)
	}
	q.pending.Add(1)
	q.mu.Unlock()
	defer q.pending.Done()
	if err := o.com.commit(o.ctx, ops...); err != nil {
		q.mu.Lock()
		for _, k := range claimed {
			delete(q.dedup, k)
		}
		q.mu.Unlock()
		return err
	}
	nowNs := o.b.clock.Now().UnixNano()
	q.mu.Lock()
	if !q.deleted {
		for _, r := range recs {
			if q.msgs[r.MessageID] == nil {
				q.insert(r, nowNs)
			}
		}
	}
	name := q.meta.Name
	q.mu.Unlock()
	if len(recs) > 0 {
		o.b.sends.notify(name)
	}
	return nil
}

// dropInbox deletes an entry whose queue is gone.
func (o *owner) dropInbox(e inboxEntry) {
	i := strings.IndexByte(e.key, '/')
	if i < 0 {
		return
	}
	_ = o.com.commit(o.ctx, store.QueueOp{Kind: store.QueueDeleteInbox, Shard: o.shard, QueueID: e.key[:i], ID: e.key[i+1:]})
}
