package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// SendEntry is one message to send (SendMessage or a SendMessageBatch entry).
type SendEntry struct {
	ID           string // batch entry id
	Body         string
	DelaySeconds *int
	Attributes   map[string]model.MessageAttributeValue
	// TraceHeader is the AWSTraceHeader message system attribute.
	TraceHeader     string
	GroupID         string
	DeduplicationID string
}

// SendResult is a sent message.
type SendResult struct {
	ID              string
	MessageID       string
	MD5OfBody       string
	MD5OfAttributes string
	MD5OfSysAttrs   string
	SequenceNumber  string
}

// BatchError is a failed batch entry; Err is a queue *Error (see AsError).
type BatchError struct {
	ID  string
	Err error
}

type senderKey struct{}

// WithSender records the authenticated caller (its access key id) for the
// SenderId message attribute.
func WithSender(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, senderKey{}, id)
}

func senderOf(ctx context.Context) string {
	if v, ok := ctx.Value(senderKey{}).(string); ok && v != "" {
		return v
	}
	return model.AccountID
}

// SendMessage sends one message.
func (b *Broker) SendMessage(ctx context.Context, name string, e SendEntry) (*SendResult, error) {
	res, fails, err := b.send(ctx, name, []SendEntry{e}, false)
	if err != nil {
		return nil, err
	}
	if len(fails) > 0 {
		return nil, fails[0].err
	}
	return &res[0], nil
}

// SendMessageBatch sends up to 10 messages; entries fail one by one.
func (b *Broker) SendMessageBatch(ctx context.Context, name string, es []SendEntry) ([]SendResult, []BatchError, error) {
	if err := CheckBatch(len(es), func(i int) string { return es[i].ID }); err != nil {
		return nil, nil, err
	}
	total := 0
	for _, e := range es {
		total += len(e.Body)
		for k, v := range e.Attributes {
			total += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
		}
	}
	if total > model.MaxMessageBytes {
		return nil, nil, ErrBatchRequestTooLong.With("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", model.MaxMessageBytes, total)
	}
	res, fails, err := b.send(ctx, name, es, true)
	if err != nil {
		return nil, nil, err
	}
	var bes []BatchError
	for _, f := range fails {
		bes = append(bes, BatchError{ID: f.id, Err: f.err})
	}
	return res, bes, nil
}

// CheckBatch applies the batch-level rules: 1 to 10 entries with distinct
// ids of [A-Za-z0-9_-]{1,80}.
func CheckBatch(n int, id func(int) string) error {
	if n == 0 {
		return ErrEmptyBatchRequest
	}
	if n > model.MaxBatchEntries {
		return ErrTooManyEntries.With("Maximum number of entries per request are 10. You have sent %d.", n)
	}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		v := id(i)
		if !validBatchID(v) {
			return ErrInvalidBatchEntryID
		}
		if seen[v] {
			return ErrBatchEntryIdsNotDistinct.With("Id %s repeated.", v)
		}
		seen[v] = true
	}
	return nil
}

func validBatchID(v string) bool {
	if v == "" || len(v) > 80 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

type entryFail struct {
	id  string
	err error
}

// send validates, stores (one batched commit) and then enqueues messages.
func (b *Broker) send(ctx context.Context, name string, es []SendEntry, batch bool) ([]SendResult, []entryFail, error) {
	o, q, err := b.lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	sb, err := b.stage(ctx, q, name, es, batch)
	if err != nil {
		return nil, nil, err
	}
	err = o.com.commit(ctx, sb.ops...)
	results := sb.finish(err)
	if err != nil {
		return nil, nil, err
	}
	return results, sb.fails, nil
}

// sendBatch is one queue's share of a send between stage and finish: its
// entries validated, FIFO deduplication ids and sequence numbers claimed,
// and the writes to commit built.
type sendBatch struct {
	b     *Broker
	q     *queue
	name  string
	es    []SendEntry
	fifo  bool
	pends []pend
	fails []entryFail
	// failIdx are the indexes in es of fails.
	failIdx []int
	ops     []store.QueueOp
}

type pend struct {
	idx      int
	rec      *model.QueueMessage
	dedupKey string
	dup      *dedupEntry
}

// stage validates es for q and builds their writes. The caller commits
// sb.ops and then must call finish, whatever the outcome.
func (b *Broker) stage(ctx context.Context, q *queue, name string, es []SendEntry, batch bool) (*sendBatch, error) {
	now := b.clock.Now()
	nowMs := now.UnixMilli()
	sender := senderOf(ctx)
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, ErrQueueDoesNotExist
	}
	cfg, qid, fifo := q.cfg, q.meta.ID, q.fifo
	q.mu.Unlock()

	sb := &sendBatch{b: b, q: q, name: name, es: es, fifo: fifo, pends: make([]pend, 0, len(es))}
	for i := range es {
		e := &es[i]
		if err := validateSend(e, &cfg, batch); err != nil {
			sb.fails = append(sb.fails, entryFail{e.ID, err})
			sb.failIdx = append(sb.failIdx, i)
			continue
		}
		delay := cfg.DelaySeconds
		if e.DelaySeconds != nil {
			delay = *e.DelaySeconds
		}
		rec := &model.QueueMessage{
			MessageID: newMessageID(), Body: e.Body, Attributes: e.Attributes, TraceHeader: e.TraceHeader,
			SenderID: sender, SentMs: nowMs, GroupID: e.GroupID, DeduplicationID: e.DeduplicationID,
			MD5OfBody: MD5OfBody(e.Body), MD5OfAttributes: MD5OfAttributes(e.Attributes),
			MD5OfSysAttrs: MD5OfSystemAttributes(e.TraceHeader),
		}
		if delay > 0 {
			rec.VisibleAtMs = nowMs + int64(delay)*1000
		}
		p := pend{idx: i, rec: rec}
		if fifo && rec.DeduplicationID == "" {
			sum := sha256.Sum256([]byte(e.Body))
			rec.DeduplicationID = hex.EncodeToString(sum[:])
		}
		if fifo {
			k := rec.DeduplicationID
			if cfg.DeduplicationScope == "messageGroup" {
				k = rec.GroupID + "\x00" + k
			}
			sum := sha256.Sum256([]byte(k))
			p.dedupKey = hex.EncodeToString(sum[:16])
		}
		sb.pends = append(sb.pends, p)
	}

	// FIFO: claim deduplication ids and sequence numbers under the lock,
	// so concurrent duplicates collapse into the first.
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, ErrQueueDoesNotExist
	}
	for i := range sb.pends {
		p := &sb.pends[i]
		p.rec.Seq = q.nextSeq(now)
		if !fifo {
			continue
		}
		if d, ok := q.dedup[p.dedupKey]; ok && d.expires > nowMs {
			p.dup = &d
			continue
		}
		q.dedup[p.dedupKey] = dedupEntry{msgID: p.rec.MessageID, expires: nowMs + model.FifoDedupWindowSeconds*1000, seq: p.rec.Seq}
	}
	q.pending.Add(1)
	q.mu.Unlock()

	sb.ops = make([]store.QueueOp, 0, len(sb.pends))
	for _, p := range sb.pends {
		if p.dup != nil {
			continue
		}
		enc, err := store.EncodeQueueMessage(p.rec)
		if err != nil {
			sb.finish(err)
			return nil, ErrInternal.With("encoding the message failed: %v", err)
		}
		sb.ops = append(sb.ops, store.QueueOp{Kind: store.QueuePutMessage, QueueID: qid, ID: p.rec.MessageID, Message: p.rec, Encoded: enc})
		if fifo {
			sb.ops = append(sb.ops, store.QueueOp{Kind: store.QueuePutDedup, QueueID: qid, ID: p.dedupKey,
				DedupMessageID: p.rec.MessageID, DedupExpiresMs: nowMs + model.FifoDedupWindowSeconds*1000})
		}
	}
	return sb, nil
}

// finish ends a staged send once its writes were committed (err nil): the
// messages become receivable and the results are returned. After a failed
// commit it releases the claimed deduplication ids instead.
func (sb *sendBatch) finish(err error) []SendResult {
	q := sb.q
	defer q.pending.Done()
	if err != nil {
		if sb.fifo {
			q.mu.Lock()
			for _, p := range sb.pends {
				if p.dup == nil {
					if d, ok := q.dedup[p.dedupKey]; ok && d.msgID == p.rec.MessageID {
						delete(q.dedup, p.dedupKey)
					}
				}
			}
			q.mu.Unlock()
		}
		return nil
	}
	nowNs := sb.b.clock.Now().UnixNano()
	q.mu.Lock()
	if !q.deleted {
		for _, p := range sb.pends {
			if p.dup == nil {
				q.insert(p.rec, nowNs)
			}
		}
	}
	q.mu.Unlock()
	sb.b.sends.notify(sb.name)
	results := make([]SendResult, 0, len(sb.pends))
	for _, p := range sb.pends {
		r := SendResult{ID: sb.es[p.idx].ID, MessageID: p.rec.MessageID, MD5OfBody: p.rec.MD5OfBody,
			MD5OfAttributes: p.rec.MD5OfAttributes, MD5OfSysAttrs: p.rec.MD5OfSysAttrs}
		if p.dup != nil {
			r.MessageID = p.dup.msgID
			if p.dup.seq != 0 {
				r.SequenceNumber = seqString(p.dup.seq)
			}
		} else if sb.fifo {
			r.SequenceNumber = seqString(p.rec.Seq)
		}
		results = append(results, r)
	}
	return results
}

// show makes a staged standard queue's messages receivable before their
// commit has ended (SendEachEarly); settle must follow once it has.
func (sb *sendBatch) show() {
	q := sb.q
	nowNs := sb.b.clock.Now().UnixNano()
	q.mu.Lock()
	if !q.deleted {
		for _, p := range sb.pends {
			if p.dup == nil {
				q.insert(p.rec, nowNs)
			}
		}
	}
	q.mu.Unlock()
	sb.b.sends.notify(sb.name)
}

// settle ends a send that show made receivable early, once its commit
// ended. takeBack (its commit failed and undoOps' deletes are committed)
// takes the messages out of the queue's memory again (a consumer may have
// had one already: the caller's durable copy sends it again, which
// at-least-once allows).
func (sb *sendBatch) settle(takeBack bool) {
	q := sb.q
	defer q.pending.Done()
	if !takeBack {
		return
	}
	q.mu.Lock()
	for _, p := range sb.pends {
		if m := q.msgs[p.rec.MessageID]; m != nil && m.QueueMessage == p.rec {
			q.remove(m)
		}
	}
	q.mu.Unlock()
}

// undoOps deletes the messages sb's commit put: after a commit that
// failed, in case it landed all the same.
func (sb *sendBatch) undoOps() []store.QueueOp {
	var ops []store.QueueOp
	for _, op := range sb.ops {
		if op.Kind == store.QueuePutMessage {
			ops = append(ops, store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: op.QueueID, ID: op.ID})
		}
	}
	return ops
}

func seqString(seq int64) string { return strconv.FormatInt(seq, 10) + "0" }
