package queue

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

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
func (b *Broker) ReceiveMessage(ctx context.Context, name string, in ReceiveInput) ([]ReceivedMessage, error) {
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
	o, q, err := b.lookup(ctx, name)
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
	var deadline <-chan struct{}
	if wait > 0 {
		var release func()
		deadline, release = after(b.clock, time.Duration(wait)*time.Second)
		defer release()
	}
	for {
		q.mu.Lock()
		if q.deleted {
			released := q.released
			q.mu.Unlock()
			if released {
				// The shard moved while this receive waited: an empty
				// answer (as when the wait ends) sends the consumer back,
				// and its next receive reaches the new owner. The queue
				// still exists; saying otherwise stops SDK consumers.
				return nil, nil
			}
			return nil, ErrQueueDoesNotExist
		}
		if q.nInflight >= b.opts.MaxInflight {
			q.mu.Unlock()
			return nil, ErrOverLimit
		}
		now := b.clock.Now()
		r := q.take(n, time.Duration(vis)*time.Second, now)
		var out []ReceivedMessage
		if len(r.got) > 0 {
			out = make([]ReceivedMessage, len(r.got))
			for i, m := range r.got {
				out[i] = q.render(m, in.AttributeNames, in.MessageAttributeNames)
			}
		}
		qid := q.meta.ID
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
				ops[i] = store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: qid, ID: m.MessageID}
			}
			// Nobody waits for this clean-up; the owner does, when it stops.
			o.goBackground(func() { o.commitChunks(qid, ops) })
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
			// Every attribute selected ("All", as a queue trigger asks):
			// the MD5 computed when the message was sent is this one; a
			// receive need not sort, hash and hex-encode them again.
			if len(sel) == len(m.Attributes) && m.MD5OfAttributes != "" {
				rm.MD5OfMessageAttributes = m.MD5OfAttributes
			} else {
				rm.MD5OfMessageAttributes = MD5OfAttributes(sel)
			}
		}
	}
	return rm
}
