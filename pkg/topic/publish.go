package topic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/topic/filter"
)

// PublishInput is one message to publish (Publish or a PublishBatch entry).
type PublishInput struct {
	ID         string // batch entry id
	Message    string
	Subject    string
	Attributes map[string]model.MessageAttributeValue
	// MessageStructure "json": Message is {"default": ..., "sqs": ...},
	// one text per protocol.
	MessageStructure       string
	MessageGroupID         string
	MessageDeduplicationID string
}

// PublishResult is a published message.
type PublishResult struct {
	ID             string // batch entry id
	MessageID      string
	SequenceNumber string // FIFO topics
}

// BatchError is a failed PublishBatch entry; Err is a topic *Error.
type BatchError struct {
	ID  string
	Err error
}

// Publish publishes one message. It returns once the message and its
// pending deliveries are stored in etcd: from then on every matching
// subscription gets it at least once, across restarts.
func (s *Service) Publish(ctx context.Context, topicArn string, in PublishInput) (*PublishResult, error) {
	res, fails, err := s.publish(ctx, topicArn, []PublishInput{in})
	if err != nil {
		return nil, err
	}
	if len(fails) > 0 {
		return nil, fails[0].Err
	}
	return &res[0], nil
}

// PublishBatch publishes up to 10 messages; entries fail one by one.
func (s *Service) PublishBatch(ctx context.Context, topicArn string, ins []PublishInput) ([]PublishResult, []BatchError, error) {
	if len(ins) == 0 {
		return nil, nil, ErrEmptyBatch
	}
	if len(ins) > model.MaxPublishBatchEntries {
		return nil, nil, ErrTooManyEntries
	}
	seen := map[string]bool{}
	total := 0
	for _, in := range ins {
		if !validBatchID(in.ID) {
			return nil, nil, ErrInvalidBatchID
		}
		if seen[in.ID] {
			return nil, nil, ErrDuplicateBatchID
		}
		seen[in.ID] = true
		total += publishSize(in)
	}
	if total > model.MaxPublishBytes {
		return nil, nil, ErrBatchTooLong.With("The length of all the messages put together is more than the limit (%d bytes).", model.MaxPublishBytes)
	}
	return s.publish(ctx, topicArn, ins)
}

func validBatchID(id string) bool {
	if id == "" || len(id) > 80 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func publishSize(in PublishInput) int {
	n := len(in.Message)
	for k, v := range in.Attributes {
		n += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	return n
}

// checkPublish validates one message against SNS's rules.
func checkPublish(in *PublishInput, fifo, contentDedup bool) error {
	if in.Message == "" {
		return invalid("Empty message")
	}
	if publishSize(*in) > model.MaxPublishBytes {
		return invalid("Message too long: a message and its attributes may be at most %d bytes", model.MaxPublishBytes)
	}
	if !model.ValidMessageText(in.Message) {
		return invalid("Message contains characters outside the allowed set")
	}
	if len(in.Subject) > model.MaxSubjectLen || strings.ContainsAny(in.Subject, "\r\n") {
		return invalid("Subject: at most 100 characters, no line breaks")
	}
	if in.MessageStructure != "" {
		if in.MessageStructure != "json" {
			return invalid("MessageStructure: must be json")
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(in.Message), &m); err != nil {
			return invalid("Message Structure - JSON message body failed to parse")
		}
		if _, ok := m["default"]; !ok {
			return invalid("Message Structure - No default entry in JSON message body")
		}
	}
	if len(in.Attributes) > 10 {
		// SNS allows more, but queue subscribers receive at most 10.
		return ErrInvalidValue.With("Too many message attributes: at most 10 (what a queue subscriber can receive)")
	}
	for name, v := range in.Attributes {
		if err := checkAttribute(name, v); err != nil {
			return err
		}
	}
	if fifo {
		if in.MessageGroupID == "" {
			return invalid("The MessageGroupId parameter is required for FIFO topics")
		}
		if len(in.MessageGroupID) > 128 {
			return invalid("MessageGroupId: at most 128 characters")
		}
		if in.MessageDeduplicationID == "" && !contentDedup {
			return invalid("The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		if len(in.MessageDeduplicationID) > 128 {
			return invalid("MessageDeduplicationId: at most 128 characters")
		}
	} else if in.MessageDeduplicationID != "" {
		return invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
	}
	return nil
}

func checkAttribute(name string, v model.MessageAttributeValue) error {
	if name == "" || len(name) > 256 || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") ||
		strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.") {
		return ErrInvalidValue.With("The message attribute name '%s' is invalid: 1 to 256 of A-Z a-z 0-9 _ - ., not starting with AWS. or Amazon.", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return ErrInvalidValue.With("The message attribute name '%s' is invalid: 1 to 256 of A-Z a-z 0-9 _ - .", name)
		}
	}
	base, _, _ := strings.Cut(v.DataType, ".")
	if v.DataType == "String.Array" {
		base = "String.Array"
	}
	switch base {
	case "String", "Number", "String.Array":
		if v.StringValue == "" {
			return ErrInvalidValue.With("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, v.DataType)
		}
		if base == "String.Array" && !json.Valid([]byte(v.StringValue)) {
			return ErrInvalidValue.With("The message attribute '%s' has an invalid String.Array value: a JSON array is expected", name)
		}
	case "Binary":
		if len(v.BinaryValue) == 0 {
			return ErrInvalidValue.With("The message attribute '%s' must contain non-empty message attribute value for message attribute type 'Binary'.", name)
		}
	default:
		return ErrInvalidValue.With("The message attribute '%s' has an invalid message attribute type '%s': use String, String.Array, Number or Binary", name, v.DataType)
	}
	return nil
}

// publish validates, stores and dispatches messages; failing entries are
// returned one by one.
//
// A message is acknowledged once its record, listing every matching
// subscription, is in etcd: that record is its durable copy until every
// subscription has it. A standard topic's queue subscriptions get their
// copies in Publish itself, receivable at once (queue.SendEachEarly), while
// the record commits; the queues' own commits end in the background, and
// a queue whose commit failed gets the message again from the record, with
// retries. So Publish waits for one grouped etcd commit, not for one
// commit per queue shard. The other subscriptions are delivered from the
// record afterwards with retries. A FIFO topic's messages all go through
// the record, delivered in order per message group.
func (s *Service) publish(ctx context.Context, topicArn string, ins []PublishInput) ([]PublishResult, []BatchError, error) {
	name, err := topicName(topicArn)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.owner(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, err := o.topic(name)
	if err != nil {
		return nil, nil, err
	}
	// Read the topic and match subscriptions under the read lock, so a
	// concurrent SetSubscriptionAttributes is seen whole or not at all.
	o.mu.RLock()
	tdef, subs := t.t, t.subs
	fifo := tdef.Fifo()
	contentDedup := model.ParseBool(tdef.Attributes[model.TAContentBasedDeduplication])

	var (
		results []PublishResult
		fails   []BatchError
		todo    []*published
		sends   []queue.QueueEntry
		sentTo  []direct   // sentTo[i] is whom sends[i] delivers to
		toSeal  []unsealed // sends whose envelope is signed after the lock
	)
	now := s.clock.Now()
	for _, in := range ins {
		if err := checkPublish(&in, fifo, contentDedup); err != nil {
			fails = append(fails, BatchError{ID: in.ID, Err: err})
			continue
		}
		rec := &model.TopicMessage{ID: newID(), TopicID: tdef.ID, Subject: in.Subject, Message: in.Message, Attributes: in.Attributes,
			PublishMs: now.UnixMilli(), GroupID: in.MessageGroupID, DeduplicationID: in.MessageDeduplicationID}
		if in.MessageStructure == "json" {
			rec.Structure = "json"
		}
		res := PublishResult{ID: in.ID, MessageID: rec.ID}
		if fifo {
			if rec.DeduplicationID == "" {
				sum := sha256.Sum256([]byte(in.Message))
				rec.DeduplicationID = hex.EncodeToString(sum[:])
			}
			if dup, ok := t.claim(rec, now); !ok {
				results = append(results, PublishResult{ID: in.ID, MessageID: dup.msgID, SequenceNumber: seqString(dup.seq)})
				continue
			}
			res.SequenceNumber = seqString(rec.Seq)
		}
		p := &published{m: &inflight{rec: rec, topic: t}}
		var fm *filter.Message
		for _, ss := range subs {
			if !ss.accepts(rec, &fm) {
				continue
			}
			if q := directQueue(ss, fifo); q != "" {
				d := &delivery{m: p.m, ss: ss}
				n, version := o.notification(d)
				if !n.Raw {
					toSeal = append(toSeal, unsealed{len(sends), d, n, version})
				}
				sends = append(sends, queue.QueueEntry{Queue: q, SendEntry: queueEntry(n, q)})
				sentTo = append(sentTo, direct{p, ss})
				p.queues = append(p.queues, ss)
				continue
			}
			p.rest = append(p.rest, ss)
		}
		results = append(results, res)
		if len(p.queues) > 0 || len(p.rest) > 0 {
			p.res = len(results) - 1
			todo = append(todo, p)
		}
	}
	o.mu.RUnlock()
	for _, u := range toSeal {
		o.seal(u.d, u.n, u.version)
		sends[u.i].SendEntry = queueEntry(u.n, sends[u.i].Queue)
	}

	// The queues' copies are receivable from here on; the records commit
	// while the queues' commits are under way. Either is a durable copy:
	// a message is acknowledged once its record is in, or once every
	// copy it has is in its queue and it has no other subscription (the
	// record is then only a spare, deleted once it has landed).
	recDone := make(chan error, 1)
	ops := make([]storeOp, 0, len(todo))
	for _, p := range todo {
		ops = append(ops, p.putOp())
	}
	recWait := o.com.Submit(ctx, ops...)
	var qDone chan []error
	if len(sends) > 0 {
		wait := o.s.opts.Queues.SendEachEarly(ctx, sends)
		qDone = make(chan []error, 1)
		go func() { qDone <- wait() }()
	}
	go func() { recDone <- recWait() }()
	queuesOnly := qDone != nil
	for _, p := range todo {
		queuesOnly = queuesOnly && len(p.rest) == 0
	}
	var (
		recErr         error
		qErrs          []error
		haveRec, haveQ bool
	)
	for !haveRec || !haveQ && qDone != nil {
		select {
		case recErr = <-recDone:
			haveRec = true
		case qErrs = <-qDone:
			haveQ = true
		}
		if haveRec && recErr == nil || haveQ && queuesOnly && qErrs == nil {
			break
		}
	}
	if !haveRec || recErr != nil {
		// Acknowledged by the queues alone: each message whose copies
		// all went in and that has no other subscription.
		queued := make(map[*published]bool, len(todo))
		for _, p := range todo {
			queued[p] = haveQ && len(p.rest) == 0
		}
		for i, d := range sentTo {
			if !haveQ || qErrs != nil && qErrs[i] != nil {
				queued[d.p] = false
			}
		}
		for _, p := range todo {
			if !queued[p] {
				p.err = recErr
			}
		}
	}
	failed := 0
	for _, p := range todo {
		if p.err != nil {
			failed++
			// The message is not safely stored for every subscription:
			// the entry fails (a queue subscriber may have got it
			// already; a retry may deliver it twice, at least once).
			if fifo {
				t.release(p.m.rec.DeduplicationID)
			}
			fails = append(fails, BatchError{ID: results[p.res].ID, Err: AsError(p.err)})
			results[p.res].MessageID = ""
			continue
		}
		o.dispatchAwaiting(p.m, p.queues, p.rest)
	}
	if qDone != nil {
		// Once the queues' commits and the records ended, each copy
		// counts as delivered, or is sent again from the record; a
		// record is deleted only after it landed. (If the owner is
		// stopping, the next one resumes from the records.)
		o.goBackground(func() {
			if !haveRec {
				<-recDone
			}
			if !haveQ {
				qErrs = <-qDone
			}
			o.settleDirect(sentTo, qErrs)
		})
	}
	if failed > 0 {
		kept := results[:0]
		for _, r := range results {
			if r.MessageID != "" {
				kept = append(kept, r)
			}
		}
		results = kept
		if len(ins) == 1 {
			return nil, nil, fails[len(fails)-1].Err
		}
	}
	return results, fails, nil
}

// published is a message of a publish on its way to being stored.
type published struct {
	m      *inflight
	queues []*subState // queue subscriptions sent to in Publish itself
	rest   []*subState // delivered from the stored record
	res    int         // index in the results
	err    error       // why it is not stored for every subscription
}

// putOp writes p's record with every subscription it must reach.
func (p *published) putOp() storeOp {
	rec := p.m.rec
	rec.Pending = make([]string, 0, len(p.queues)+len(p.rest))
	for _, ss := range p.queues {
		rec.Pending = append(rec.Pending, ss.id)
	}
	for _, ss := range p.rest {
		rec.Pending = append(rec.Pending, ss.id)
	}
	return putOp(rec)
}

// unsealed is sends[i], an enveloped delivery whose envelope is signed
// once the owner's read lock is released.
type unsealed struct {
	i       int
	d       *delivery
	n       *Notification
	version string
}

// direct is one queue subscription sent to in Publish.
type direct struct {
	p  *published
	ss *subState
}

// directQueue is the queue a subscription is sent to in Publish itself:
// sqs subscriptions of a standard topic; "" for the others.
func directQueue(ss *subState, fifo bool) string {
	if fifo || ss.protocol != model.ProtocolSQS {
		return ""
	}
	q, err := model.ArnName(ss.sub.Endpoint, "sqs")
	if err != nil {
		return "" // delivered from the record, which fails it for good
	}
	return q
}

func seqString(seq int64) string { return fmt.Sprintf("%020d", seq) }

// claim records a FIFO message's deduplication id and gives it its
// sequence number; false with the earlier message when the id was seen in
// the last five minutes.
func (t *topicState) claim(rec *model.TopicMessage, now time.Time) (dedupEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.dedup[rec.DeduplicationID]; ok && d.expires.After(now) {
		return d, false
	}
	t.seq = max(t.seq+1, now.UnixMicro())
	rec.Seq = t.seq
	if len(t.dedup) >= 1024 && len(t.dedup)%1024 == 0 {
		for k, d := range t.dedup {
			if !d.expires.After(now) {
				delete(t.dedup, k)
			}
		}
	}
	t.dedup[rec.DeduplicationID] = dedupEntry{msgID: rec.ID, seq: rec.Seq, expires: now.Add(dedupWindow)}
	return dedupEntry{}, true
}

// release forgets a deduplication id whose message failed to store.
func (t *topicState) release(id string) {
	t.mu.Lock()
	delete(t.dedup, id)
	t.mu.Unlock()
}
