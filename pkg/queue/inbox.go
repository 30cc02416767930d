package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
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
// Each replica keeps one watch over all inboxes (runInbox) and hands every
// entry to the owner of its shard, which moves it into the queue
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
	if err := b.st.PutQueueInbox(ctx, store.InboxMessage{Shard: shard, QueueID: meta.ID, ID: inboxID(rec), Queue: name, Message: rec}); err != nil {
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

func entryOf(m *store.InboxMessage) inboxEntry { return inboxEntry{m.QueueID + "/" + m.ID, m} }

// runInbox keeps one watch over every shard's inbox for the session and
// hands each new entry to the owner of its shard, if this replica owns it
// (one long-lived watch per replica, not one per shard: watches are
// created and cancelled only with the session).
func (b *Broker) runInbox(ctx context.Context) {
	c := b.st.QueueInboxCache()
	sub := c.SubscribeFilter(func(ch store.Change[store.InboxMessage]) bool { return ch.Obj != nil })
	defer sub.Close()
	b.mu.Lock()
	b.inbox = c
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inbox = nil
		b.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.C():
			for _, ch := range sub.Drain() {
				m := ch.Obj
				if m.Shard < 0 || m.Shard >= b.opts.Shards {
					continue
				}
				b.mu.RLock()
				o := b.owners[m.Shard]
				b.mu.RUnlock()
				if o != nil {
					o.inboxAdd(entryOf(m))
				}
			}
		}
	}
}

// inboxAdd queues an entry for the owner's inbox loop.
func (o *owner) inboxAdd(e inboxEntry) {
	o.inboxMu.Lock()
	o.inboxNew = append(o.inboxNew, e)
	o.inboxMu.Unlock()
	select {
	case o.inboxSig <- struct{}{}:
	default:
	}
}

// inboxLoop absorbs this shard's inbox until the owner stops: entries as
// runInbox hands them over, and every second whatever of this shard's
// inbox is still there and not being absorbed (what was there when the
// owner took over, entries for a queue created a moment ago, failed
// commits). Entries for a deleted queue are dropped.
func (o *owner) inboxLoop() {
	seen := map[string]bool{} // absorbed, or being absorbed, by this owner
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	scan := true // at once: what waits from before this owner
	for {
		var batch []inboxEntry
		if scan {
			o.b.mu.RLock()
			c := o.b.inbox
			o.b.mu.RUnlock()
			if c != nil {
				present := map[string]bool{}
				for _, m := range c.List() {
					if m.Shard != o.shard {
						continue
					}
					e := entryOf(m)
					present[e.key] = true
					if !seen[e.key] {
						batch = append(batch, e)
					}
				}
				for k := range seen { // deleted once absorbed
					if !present[k] {
						delete(seen, k)
					}
				}
			}
			scan = false
		}
		o.inboxMu.Lock()
		for _, e := range o.inboxNew {
			if !seen[e.key] {
				batch = append(batch, e)
			}
		}
		o.inboxNew = nil
		o.inboxMu.Unlock()
		if len(batch) > 0 {
			for _, e := range batch {
				seen[e.key] = true
			}
			sort.Slice(batch, func(i, j int) bool { return batch[i].msg.ID < batch[j].msg.ID })
			for _, e := range o.absorb(batch) {
				delete(seen, e.key) // the next scan retries it
			}
		}
		select {
		case <-o.ctx.Done():
			return
		case <-o.inboxSig:
		case <-tick.C:
			scan = true
		}
	}
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
		// (e.msg.QueueID is the queue incarnation the sender meant.)
		if _, ok := byQueue[e.msg.Queue]; !ok {
			order = append(order, e.msg.Queue)
		}
		byQueue[e.msg.Queue] = append(byQueue[e.msg.Queue], e)
	}
	for _, name := range order {
		es := byQueue[name]
		qid := es[0].msg.QueueID
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
		ops = append(ops, store.QueueOp{Kind: store.QueueDeleteInbox, Shard: o.shard, QueueID: qid, ID: e.msg.ID})
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
	_ = o.com.commit(o.ctx, store.QueueOp{Kind: store.QueueDeleteInbox, Shard: o.shard, QueueID: e.msg.QueueID, ID: e.msg.ID})
}
