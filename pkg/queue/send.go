package queue

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

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

// BatchError is a failed batch entry.
type BatchError struct {
	ID          string
	Code        string
	Message     string
	SenderFault bool
}

func batchErr(id string, err error) BatchError {
	e := AsError(err)
	return BatchError{ID: id, Code: e.QueryCode, Message: e.Message, SenderFault: e.Sender}
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
func (s *Service) SendMessage(ctx context.Context, name string, e SendEntry) (*SendResult, error) {
	res, fails, err := s.send(ctx, name, []SendEntry{e}, false)
	if err != nil {
		return nil, err
	}
	if len(fails) > 0 {
		return nil, fails[0].err
	}
	return &res[0], nil
}

// SendMessageBatch sends up to 10 messages; entries fail one by one.
func (s *Service) SendMessageBatch(ctx context.Context, name string, es []SendEntry) ([]SendResult, []BatchError, error) {
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
	res, fails, err := s.send(ctx, name, es, true)
	if err != nil {
		return nil, nil, err
	}
	var bes []BatchError
	for _, f := range fails {
		bes = append(bes, batchErr(f.id, f.err))
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
func (s *Service) send(ctx context.Context, name string, es []SendEntry, batch bool) ([]SendResult, []entryFail, error) {
	o, q, err := s.lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	nowMs := now.UnixMilli()
	sender := senderOf(ctx)
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, nil, ErrQueueDoesNotExist
	}
	cfg, qid, fifo := q.cfg, q.meta.ID, q.fifo
	q.mu.Unlock()

	type pend struct {
		idx      int
		rec      *model.QueueMessage
		dedupKey string
		dup      *dedupEntry
	}
	results := make([]SendResult, 0, len(es))
	var fails []entryFail
	pends := make([]pend, 0, len(es))
	ops := make([]store.QueueOp, 0, len(es))
	for i := range es {
		e := &es[i]
		if err := validateSend(e, &cfg, batch); err != nil {
			fails = append(fails, entryFail{e.ID, err})
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
		pends = append(pends, p)
	}

	// FIFO: claim deduplication ids and sequence numbers under the lock,
	// so concurrent duplicates collapse into the first.
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, nil, ErrQueueDoesNotExist
	}
	for i := range pends {
		p := &pends[i]
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
	defer q.pending.Done()

	for _, p := range pends {
		if p.dup != nil {
			continue
		}
		b, err := store.EncodeQueueMessage(p.rec)
		if err != nil {
			return nil, nil, ErrInternal.With("encoding the message failed: %v", err)
		}
		ops = append(ops, store.QueueOp{Kind: store.QueuePutMessage, QueueID: qid, ID: p.rec.MessageID, Message: p.rec, Encoded: b})
		if fifo {
			ops = append(ops, store.QueueOp{Kind: store.QueuePutDedup, QueueID: qid, ID: p.dedupKey,
				DedupMessageID: p.rec.MessageID, DedupExpiresMs: nowMs + model.FifoDedupWindowSeconds*1000})
		}
	}
	if err := o.com.commit(ctx, ops...); err != nil {
		if fifo {
			q.mu.Lock()
			for _, p := range pends {
				if p.dup == nil {
					if d, ok := q.dedup[p.dedupKey]; ok && d.msgID == p.rec.MessageID {
						delete(q.dedup, p.dedupKey)
					}
				}
			}
			q.mu.Unlock()
		}
		return nil, nil, err
	}
	nowNs := time.Now().UnixNano()
	q.mu.Lock()
	if !q.deleted {
		for _, p := range pends {
			if p.dup == nil {
				q.insert(p.rec, nowNs)
			}
		}
	}
	q.mu.Unlock()
	for _, p := range pends {
		r := SendResult{ID: es[p.idx].ID, MessageID: p.rec.MessageID, MD5OfBody: p.rec.MD5OfBody,
			MD5OfAttributes: p.rec.MD5OfAttributes, MD5OfSysAttrs: p.rec.MD5OfSysAttrs}
		if p.dup != nil {
			r.MessageID = p.dup.msgID
			if p.dup.seq != 0 {
				r.SequenceNumber = seqString(p.dup.seq)
			}
		} else if fifo {
			r.SequenceNumber = seqString(p.rec.Seq)
		}
		results = append(results, r)
	}
	return results, fails, nil
}

func seqString(seq int64) string { return strconv.FormatInt(seq, 10) + "0" }

func validateSend(e *SendEntry, cfg *model.QueueConfig, batch bool) error {
	if e.Body == "" {
		return ErrMissingParameter.With("The request must contain the parameter MessageBody.")
	}
	size := len(e.Body)
	for k, v := range e.Attributes {
		size += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	if size > cfg.MaximumMessageSize {
		return ErrInvalidParameterValue.With("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", cfg.MaximumMessageSize)
	}
	if !model.ValidMessageText(e.Body) {
		return ErrInvalidMessageContents.With("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	if e.DelaySeconds != nil {
		d := *e.DelaySeconds
		if d < 0 || d > model.MaxDelaySeconds {
			return ErrInvalidParameterValue.With("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", d)
		}
		if cfg.Fifo && d != 0 {
			return ErrInvalidParameterValue.With("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", d)
		}
	}
	if err := validateMessageAttributes(e.Attributes); err != nil {
		return err
	}
	if e.TraceHeader != "" && !model.ValidMessageText(e.TraceHeader) {
		return ErrInvalidParameterValue.With("AWSTraceHeader contains invalid characters.")
	}
	if cfg.Fifo {
		if e.GroupID == "" {
			return ErrMissingParameter.With("The request must contain the parameter MessageGroupId.")
		}
		if e.DeduplicationID == "" && !cfg.ContentBasedDeduplication {
			return ErrInvalidParameterValue.With("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
	}
	if !validFifoID(e.GroupID) {
		return ErrInvalidParameterValue.With("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can contain up to 128 alphanumeric and punctuation characters.", e.GroupID)
	}
	if !validFifoID(e.DeduplicationID) {
		return ErrInvalidParameterValue.With("Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can contain up to 128 alphanumeric and punctuation characters.", e.DeduplicationID)
	}
	if !cfg.Fifo && e.DeduplicationID != "" {
		return ErrInvalidParameterValue.With("Value %s for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.", e.DeduplicationID)
	}
	return nil
}

func validFifoID(v string) bool {
	if len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func validateMessageAttributes(attrs map[string]model.MessageAttributeValue) error {
	if len(attrs) > model.MaxMessageAttributes {
		return ErrInvalidParameterValue.With("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	for n, v := range attrs {
		if !validAttrName(n) {
			return ErrInvalidParameterValue.With("Message (user) attribute name %q is invalid: up to 256 of A-Z a-z 0-9 _ - . (no leading, trailing or double periods, no AWS. or Amazon. prefix).", n)
		}
		base, label, _ := strings.Cut(v.DataType, ".")
		if len(v.DataType) > 256 || (label == "" && strings.Contains(v.DataType, ".")) {
			return ErrInvalidParameterValue.With("The type of message (user) attribute '%s' is invalid.", n)
		}
		switch base {
		case "String", "Number":
			if v.StringValue == "" {
				return ErrInvalidParameterValue.With("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", n, base)
			}
			if !model.ValidMessageText(v.StringValue) {
				return ErrInvalidMessageContents.With("Message (user) attribute '%s' contains invalid characters.", n)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(v.StringValue, 64); err != nil || len(v.StringValue) > 40 {
					return ErrInvalidParameterValue.With("Can't cast the value of message (user) attribute '%s' to a number.", n)
				}
			}
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return ErrInvalidParameterValue.With("Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", n)
			}
		case "":
			return ErrInvalidParameterValue.With("The message attribute '%s' must contain non-empty message attribute type.", n)
		default:
			return ErrInvalidParameterValue.With("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", n)
		}
	}
	return nil
}

func validAttrName(n string) bool {
	if n == "" || len(n) > 256 || n[0] == '.' || n[len(n)-1] == '.' || strings.Contains(n, "..") {
		return false
	}
	l := strings.ToLower(n)
	if strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ReceiveInput are ReceiveMessage's parameters.
type ReceiveInput struct {
	MaxNumberOfMessages int  // 1-10; 0 means 1
	WaitTimeSeconds     *int // nil: the queue's ReceiveMessageWaitTimeSeconds
	VisibilityTimeout   *int // nil: the queue's VisibilityTimeout
	// AttributeNames are the system attributes to return ("All" or names);
	// both AttributeNames and MessageSystemAttributeNames go here.
	AttributeNames        []string
	MessageAttributeNames []string
}

// ReceivedMessage is a message handed to a consumer.
type ReceivedMessage struct {
	MessageID              string
	ReceiptHandle          string
	Body                   string
	MD5OfBody              string
	MD5OfMessageAttributes string
	Attributes             map[string]string
	MessageAttributes      map[string]model.MessageAttributeValue
}

var systemAttrNames = map[string]bool{
	"All": true, "SenderId": true, "SentTimestamp": true, "ApproximateReceiveCount": true,
	"ApproximateFirstReceiveTimestamp": true, "SequenceNumber": true, "MessageDeduplicationId": true,
	"MessageGroupId": true, "AWSTraceHeader": true, "DeadLetterQueueSourceArn": true,
}

// ReceiveMessage returns up to MaxNumberOfMessages messages, waiting up to
// WaitTimeSeconds for the first to arrive; a send wakes the wait at once.
func (s *Service) ReceiveMessage(ctx context.Context, name string, in ReceiveInput) ([]ReceivedMessage, error) {
	n := in.MaxNumberOfMessages
	if n == 0 {
		n = 1
	}
	if n < 1 || n > 10 {
		return nil, ErrInvalidParameterValue.With("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > model.MaxReceiveWaitSeconds) {
		return nil, ErrInvalidParameterValue.With("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > model.MaxVisibilityTimeout) {
		return nil, ErrInvalidParameterValue.With("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)
	}
	for _, a := range in.AttributeNames {
		if !systemAttrNames[a] && !isQueueAttr(a) {
			return nil, ErrInvalidAttributeName.With("Unknown Attribute %s.", a)
		}
	}
	o, q, err := s.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	wait := q.cfg.ReceiveMessageWaitTimeSeconds
	vis := q.cfg.VisibilityTimeout
	q.mu.Unlock()
	if in.WaitTimeSeconds != nil {
		wait = *in.WaitTimeSeconds
	}
	if in.VisibilityTimeout != nil {
		vis = *in.VisibilityTimeout
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(time.Duration(wait) * time.Second)
		defer t.Stop()
		deadline = t.C
	}
	for {
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			return nil, ErrQueueDoesNotExist
		}
		if q.nInflight >= s.opts.MaxInflight {
			q.mu.Unlock()
			return nil, ErrOverLimit
		}
		now := time.Now()
		r := q.take(n, time.Duration(vis)*time.Second, now)
		var out []ReceivedMessage
		if len(r.got) > 0 {
			out = make([]ReceivedMessage, len(r.got))
			for i, m := range r.got {
				out[i] = q.render(m, in.AttributeNames, in.MessageAttributeNames)
			}
		}
		var w chan struct{}
		if len(out) == 0 && deadline != nil && len(r.dead) == 0 && len(r.expired) == 0 {
			w = q.addWaiter()
		}
		q.mu.Unlock()
		if len(r.dead) > 0 {
			o.deadLetter(q, r.dead)
		}
		if len(r.expired) > 0 {
			ops := make([]store.QueueOp, len(r.expired))
			for i, m := range r.expired {
				ops[i] = store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: m.queueID(q), ID: m.MessageID}
			}
			go o.commitChunks(q.meta.ID, ops)
		}
		if len(out) > 0 || deadline == nil {
			return out, nil
		}
		if w == nil {
			continue // something left the queue; look again
		}
		select {
		case <-w:
		case <-deadline:
			q.mu.Lock()
			q.removeWaiter(w)
			q.mu.Unlock()
			deadline = nil // one last look, then return
		case <-ctx.Done():
			q.mu.Lock()
			q.removeWaiter(w)
			q.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

func (m *message) queueID(q *queue) string { return q.meta.ID }

// render builds what a consumer gets; called with q.mu held.
func (q *queue) render(m *message, attrNames, msgAttrNames []string) ReceivedMessage {
	rm := ReceivedMessage{
		MessageID: m.MessageID, Body: m.Body, MD5OfBody: m.MD5OfBody,
		ReceiptHandle: encodeHandle(q.meta.ID, m.MessageID, m.gen),
	}
	if len(attrNames) > 0 {
		all := false
		want := map[string]bool{}
		for _, a := range attrNames {
			if a == "All" {
				all = true
			}
			want[a] = true
		}
		a := map[string]string{}
		put := func(k, v string) {
			if (all || want[k]) && v != "" {
				a[k] = v
			}
		}
		put("SenderId", m.SenderID)
		put("SentTimestamp", strconv.FormatInt(m.SentMs, 10))
		put("ApproximateReceiveCount", strconv.Itoa(m.ReceiveCount))
		put("ApproximateFirstReceiveTimestamp", strconv.FormatInt(m.FirstReceiveMs, 10))
		put("AWSTraceHeader", m.TraceHeader)
		put("DeadLetterQueueSourceArn", m.DeadLetterSourceArn)
		if q.fifo {
			put("SequenceNumber", seqString(m.Seq))
			put("MessageDeduplicationId", m.DeduplicationID)
		}
		put("MessageGroupId", m.GroupID)
		if len(a) > 0 {
			rm.Attributes = a
		}
	}
	if len(msgAttrNames) > 0 && len(m.Attributes) > 0 {
		sel := map[string]model.MessageAttributeValue{}
		for k, v := range m.Attributes {
			for _, want := range msgAttrNames {
				if want == "All" || want == ".*" || want == k ||
					(strings.HasSuffix(want, ".*") && strings.HasPrefix(k, want[:len(want)-1])) {
					sel[k] = v
					break
				}
			}
		}
		if len(sel) > 0 {
			rm.MessageAttributes = sel
			rm.MD5OfMessageAttributes = MD5OfAttributes(sel)
		}
	}
	return rm
}

// Receipt handles are base64url("<queueId>:<messageId>:<receive generation>").
func encodeHandle(qid, msgID string, gen uint32) string {
	return base64.RawURLEncoding.EncodeToString([]byte(qid + ":" + msgID + ":" + strconv.FormatUint(uint64(gen), 10)))
}

func decodeHandle(h string) (qid, msgID string, gen uint32, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", "", 0, false
	}
	p := strings.Split(string(b), ":")
	if len(p) != 3 {
		return "", "", 0, false
	}
	g, err := strconv.ParseUint(p[2], 10, 32)
	if err != nil {
		return "", "", 0, false
	}
	return p[0], p[1], uint32(g), true
}

func (q *queue) parseHandle(h string) (msgID string, gen uint32, err error) {
	if h == "" {
		return "", 0, ErrMissingParameter.With("The request must contain the parameter ReceiptHandle.")
	}
	qid, id, g, ok := decodeHandle(h)
	if !ok || qid != q.meta.ID {
		return "", 0, ErrReceiptHandleIsInvalid.With("The input receipt handle %q is not a valid receipt handle.", h)
	}
	return id, g, nil
}

// DeleteMessage deletes a received message. A stale receipt handle (from an
// earlier receive) still deletes; deleting twice succeeds.
func (s *Service) DeleteMessage(ctx context.Context, name, handle string) error {
	_, fails, err := s.deleteMessages(ctx, name, []BatchHandle{{Handle: handle}})
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
func (s *Service) DeleteMessageBatch(ctx context.Context, name string, es []BatchHandle) ([]string, []BatchError, error) {
	return runBatch(es, func(es []BatchHandle) ([]string, []entryFail, error) { return s.deleteMessages(ctx, name, es) })
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
		bes = append(bes, batchErr(f.id, f.err))
	}
	return ok, bes, nil
}

func (s *Service) deleteMessages(ctx context.Context, name string, es []BatchHandle) ([]string, []entryFail, error) {
	o, q, err := s.lookup(ctx, name)
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
func (s *Service) ChangeMessageVisibility(ctx context.Context, name, handle string, seconds int) error {
	_, fails, err := s.changeVisibility(ctx, name, []BatchHandle{{Handle: handle, VisibilityTimeout: seconds}})
	if err != nil {
		return err
	}
	if len(fails) > 0 {
		return fails[0].err
	}
	return nil
}

// ChangeMessageVisibilityBatch changes the visibility of up to 10 messages.
func (s *Service) ChangeMessageVisibilityBatch(ctx context.Context, name string, es []BatchHandle) ([]string, []BatchError, error) {
	return runBatch(es, func(es []BatchHandle) ([]string, []entryFail, error) { return s.changeVisibility(ctx, name, es) })
}

func (s *Service) changeVisibility(ctx context.Context, name string, es []BatchHandle) ([]string, []entryFail, error) {
	_, q, err := s.lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var okIDs []string
	var fails []entryFail
	now := time.Now().UnixNano()
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
