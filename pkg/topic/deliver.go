package topic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
	"github.com/orch-project/orch/pkg/topic/filter"
)

// Notification is one message on its way to one subscription.
type Notification struct {
	Subscription    *model.Subscription
	SubscriptionArn string
	TopicArn        string
	Message         *model.TopicMessage
	// Text is what this subscription's protocol receives of the message
	// (MessageStructure json picks the protocol's entry).
	Text string
	// Raw is RawMessageDelivery: the receiver gets Text and the message
	// attributes instead of the JSON envelope.
	Raw bool
	// Envelope is the SNS JSON envelope (Type Notification).
	Envelope []byte
}

// A Deliverer delivers notifications over one protocol. Each protocol has
// one (sqs: the queues; lambda: the functions hook; http and https:
// http.go; email and email-json: email.go).
type Deliverer interface {
	Deliver(ctx context.Context, n *Notification) error
}

// DeliveryError is a failed delivery. Permanent failures (the queue does
// not exist) are not retried unless a DeliveryPolicy says so.
type DeliveryError struct {
	Permanent bool
	// Code names the failure for dead-lettered messages' ErrorCode.
	Code string
	Err  error
}

func (e *DeliveryError) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// queueDeliverer delivers to sqs subscriptions through the queues.
type queueDeliverer struct{ q Sender }

func (d queueDeliverer) Deliver(ctx context.Context, n *Notification) error {
	name, err := model.ArnName(n.Subscription.Endpoint, "sqs")
	if err != nil {
		return &DeliveryError{Permanent: true, Code: "InvalidEndpoint", Err: err}
	}
	return sendErr(d.q.SendMessage(ctx, name, queueEntry(n, name)))
}

// queueEntry is what a queue subscription's queue receives of n.
func queueEntry(n *Notification, queueName string) queue.SendEntry {
	e := queue.SendEntry{Body: string(n.Envelope)}
	if n.Raw {
		e.Body, e.Attributes = n.Text, n.Message.Attributes
	}
	fifoQueue(&e, queueName, n.Message)
	return e
}

// fifoQueue sets a FIFO queue's group and deduplication ids from the message.
func fifoQueue(e *queue.SendEntry, queueName string, m *model.TopicMessage) {
	if len(queueName) > 5 && queueName[len(queueName)-5:] == ".fifo" {
		e.GroupID, e.DeduplicationID = m.GroupID, m.DeduplicationID
		if e.GroupID == "" {
			e.GroupID = m.TopicID
		}
		if e.DeduplicationID == "" {
			e.DeduplicationID = m.ID
		}
	}
}

func sendErr(_ *queue.SendResult, err error) error { return deliveryErr(err) }

// deliveryErr classifies a queue's answer to a delivery.
func deliveryErr(err error) error {
	if err == nil {
		return nil
	}
	k := queue.KindOf(err)
	code := "QueueUnavailable"
	if k == queue.KindNoSuchQueue {
		code = "QueueDoesNotExist"
	} else if k.ClientFault() {
		code = "QueueRejectedMessage"
	}
	return &DeliveryError{Permanent: k.ClientFault(), Code: code, Err: err}
}

// FunctionInvoker is the seam for lambda subscriptions, set as
// Options.Functions: the functions feature implements it with an
// asynchronous (Event) invocation of the function named by its ARN, with
// the SNS event as payload ({"Records":[{"EventSource":"aws:sns",
// "Sns":{...}}]}, built by lambdaEvent). A nil error is a delivery; an
// error is retried per the subscription's policy (SNS's default for
// functions: 100,015 attempts over 23 days) unless it is a
// *DeliveryError with Permanent set (the function does not exist), and
// then dead-lettered. InvokeEvent should only queue the invocation, not
// wait for the function to run: each subscription has at most 8
// deliveries under way.
//
// Without one, Subscribe refuses protocol lambda with InvalidParameter;
// lambda subscriptions stored earlier receive nothing and describe says
// why.
type FunctionInvoker interface {
	InvokeEvent(ctx context.Context, functionArn string, payload []byte) error
}

type lambdaDeliverer struct {
	f       FunctionInvoker
	baseURL string
}

func (d lambdaDeliverer) Deliver(ctx context.Context, n *Notification) error {
	if d.f == nil {
		return &DeliveryError{Permanent: true, Code: "NoFunctionRuntime", Err: errors.New("no function runtime yet")}
	}
	return d.f.InvokeEvent(ctx, n.Subscription.Endpoint, lambdaEvent(n, d.baseURL))
}

// inflight is a stored message whose deliveries are under way.
type inflight struct {
	rec   *model.TopicMessage
	topic *topicState

	mu   sync.Mutex
	left map[string]bool // subscription ids not yet done
	// saving is held across a rewrite of the record (saveProgress) and
	// across its delete (forget): the owner's commit pipelines run side
	// by side, so without it a rewrite could land after the delete and
	// leave the record of a delivered message until the next take-over.
	saving  sync.Mutex
	written int // len(left) when the record was last written
	// retrying is set once a delivery failed: from then on every
	// finished delivery saves the progress, so a restart re-delivers
	// only to the subscriptions still pending.
	retrying bool
	// sigs caches the message's signatures (sign.go): the string to
	// sign has nothing of the subscription, so one signature per text
	// serves every subscriber.
	sigs sync.Map
}

// delivery is one message for one subscription.
type delivery struct {
	m        *inflight
	ss       *subState
	attempts int
}

// accepts reports whether the subscription receives a message now:
// confirmed, deliverable and matching its filter policy. fm is built on
// first use (once per message, whatever the number of subscriptions).
func (ss *subState) accepts(rec *model.TopicMessage, fm **filter.Message) bool {
	if ss.broken != "" || ss.inert || ss.sub.PendingConfirmation || ss.gone.Load() {
		return false
	}
	if ss.filter == nil {
		return true
	}
	if *fm == nil {
		m := filterMessage(rec)
		*fm = &m
	}
	return ss.filter.Match(**fm)
}

// dispatch starts the deliveries of a stored message to subs: through
// each subscription's queue of pending deliveries for a standard topic,
// in order per message group and subscription for a FIFO topic.
func (o *owner) dispatch(t *topicState, rec *model.TopicMessage, subs []*subState) {
	o.dispatchInflight(&inflight{rec: rec, topic: t}, subs)
}

// dispatchInflight is dispatch for a message whose inflight exists (its
// signatures may be cached already).
func (o *owner) dispatchInflight(m *inflight, subs []*subState) { o.dispatchAwaiting(m, nil, subs) }

// dispatchAwaiting is dispatchInflight for a message that is also on its
// way to the subscriptions in sent (a publish's direct queue sends):
// they count as pending until settleDirect hears how their sends ended.
func (o *owner) dispatchAwaiting(m *inflight, sent, subs []*subState) {
	m.left, m.written = make(map[string]bool, len(sent)+len(subs)), len(m.rec.Pending)
	for _, ss := range sent {
		ss.pending.Add(1)
		m.left[ss.id] = true
	}
	for _, ss := range subs {
		m.left[ss.id] = true
	}
	if len(sent)+len(subs) == 0 {
		o.goBackground(func() { o.forget(m) })
		return
	}
	fifo := m.topic.t.Fifo()
	for _, ss := range subs {
		ss.pending.Add(1)
		d := &delivery{m: m, ss: ss}
		if fifo {
			o.enqueue(d)
		} else {
			o.push(d)
		}
	}
}

// settleDirect ends a publish's direct queue sends once the queues'
// commits ended (errs[i] is sentTo[i]'s outcome): a copy that is in its
// queue is a finished delivery; one that is not is delivered again from
// the record, with the subscription's retries. Messages whose record did
// not commit were never dispatched and are skipped.
func (o *owner) settleDirect(sentTo []direct, errs []error) {
	var delivered []*inflight
	defer func() {
		if len(delivered) > 0 {
			o.forget(delivered...)
		}
	}()
	for i, sd := range sentTo {
		if sd.p.err != nil {
			continue
		}
		d := &delivery{m: sd.p.m, ss: sd.ss}
		if errs == nil || errs[i] == nil {
			sd.ss.delivered.Add(1)
			if o.done(d) {
				delivered = append(delivered, d.m)
			}
			continue
		}
		o.s.log.Info("a queue did not take a published message; delivering it again from its record", "subscription", sd.ss.id, "messageId", d.m.rec.ID, "err", errs[i])
		o.push(d)
	}
}

// chain is one FIFO message group's deliveries to one subscription.
type chain struct{ q []*delivery }

func (o *owner) enqueue(d *delivery) {
	ss, g := d.ss, d.m.rec.GroupID
	ss.chMu.Lock()
	c := ss.chains[g]
	if c != nil {
		c.q = append(c.q, d)
		ss.chMu.Unlock()
		return
	}
	c = &chain{q: []*delivery{d}}
	ss.chains[g] = c
	ss.chMu.Unlock()
	o.goBackground(func() {
		for {
			ss.chMu.Lock()
			if len(c.q) == 0 {
				delete(ss.chains, g)
				ss.chMu.Unlock()
				return
			}
			next := c.q[0]
			ss.chMu.Unlock()
			if !o.run(next) {
				return // stopping: the next owner resumes from etcd
			}
			ss.chMu.Lock()
			c.q = c.q[1:]
			ss.chMu.Unlock()
		}
	})
}

// run delivers d, retrying per the subscription's policy, then
// dead-letters it if it never got through. It returns false when the
// owner stopped first (the delivery stays pending in etcd). FIFO chains
// use it: a message group waits for its retries.
func (o *owner) run(d *delivery) bool {
	for {
		delay, again, ok := o.attempt(d)
		if !ok {
			return false
		}
		if !again {
			return true
		}
		wait, release := after(o.s.clock, delay)
		select {
		case <-wait:
		case <-o.ctx.Done():
			release()
			return false
		}
	}
}

// attempt makes one delivery attempt of d. With again it must be tried
// once more after delay; otherwise it is finished (delivered,
// dead-lettered or dropped). ok is false when the owner stopped first
// (the delivery stays pending in etcd).
func (o *owner) attempt(d *delivery) (delay time.Duration, again, ok bool) {
	ss := d.ss
	if o.ctx.Err() != nil {
		return 0, false, false
	}
	if ss.gone.Load() {
		o.finish(d)
		return 0, false, true
	}
	o.mu.RLock()
	n, version := o.notification(d)
	o.mu.RUnlock()
	o.seal(d, n, version)
	del := o.s.dels[ss.protocol]
	var err error
	if del == nil {
		err = &DeliveryError{Permanent: true, Code: "UnsupportedProtocol", Err: fmt.Errorf("no deliverer for protocol %s", ss.protocol)}
	} else {
		err = del.Deliver(o.ctx, n)
	}
	if err == nil {
		ss.delivered.Add(1)
		o.finish(d)
		return 0, false, true
	}
	if o.ctx.Err() != nil {
		return 0, false, false
	}
	d.attempts++
	ss.failures.Add(1)
	if d.attempts == 1 {
		o.s.log.Info("delivery failed; retrying per the subscription's policy", "subscription", n.SubscriptionArn, "messageId", d.m.rec.ID, "err", err)
	}
	var de *DeliveryError
	permanent := errors.As(err, &de) && de.Permanent
	delay, again = nextDelay(ss.retry.Load(), ss.protocol, d.attempts, permanent)
	if !again {
		o.deadLetter(d, n, err)
		o.finish(d)
		return 0, false, true
	}
	d.m.mu.Lock()
	d.m.retrying = true
	d.m.mu.Unlock()
	o.saveProgress(d.m)
	return delay, true, true
}

// notification builds what d's subscriber receives (under o.mu), all but
// the signed envelope, and returns the topic's signature version for it:
// seal signs outside the lock, since an RSA signature costs about a
// millisecond and a writer waiting for o.mu holds every reader behind it.
func (o *owner) notification(d *delivery) (*Notification, string) {
	sub, rec := d.ss.sub, d.m.rec
	n := &Notification{Subscription: sub, SubscriptionArn: sub.Arn(o.s.opts.Region), TopicArn: d.m.topic.arnOf(o.s.opts.Region),
		Message: rec, Text: textFor(rec, sub.Protocol), Raw: d.ss.raw}
	return n, signatureVersion(d.m.topic.t)
}

// seal renders and signs n's envelope (not under o.mu); raw deliveries
// have none.
func (o *owner) seal(d *delivery, n *Notification, version string) {
	if !n.Raw {
		n.Envelope = o.signedEnvelope(d, n, version)
	}
}

// deadLetter sends a delivery that ran out of retries to the
// subscription's dead-letter queue, with ErrorCode and ErrorMessage
// attributes; without one the message is dropped (and counted).
func (o *owner) deadLetter(d *delivery, n *Notification, cause error) {
	ss := d.ss
	o.mu.RLock()
	dlq := ss.dlq
	o.mu.RUnlock()
	if dlq == "" {
		ss.dropped.Add(1)
		o.s.log.Warn("delivery failed for good and the subscription has no RedrivePolicy; message dropped",
			"subscription", n.SubscriptionArn, "messageId", d.m.rec.ID, "err", cause)
		return
	}
	code := "DeliveryFailed"
	var de *DeliveryError
	if errors.As(cause, &de) {
		code = de.Code
	}
	e := queue.SendEntry{Body: string(n.Envelope)}
	attrs := map[string]model.MessageAttributeValue{}
	if n.Raw {
		e.Body = n.Text
		for k, v := range d.m.rec.Attributes {
			attrs[k] = v
		}
	}
	if len(attrs) <= 8 {
		attrs["ErrorCode"] = model.MessageAttributeValue{DataType: "String", StringValue: code}
		attrs["ErrorMessage"] = model.MessageAttributeValue{DataType: "String", StringValue: cause.Error()}
	}
	e.Attributes = attrs
	fifoQueue(&e, dlq, d.m.rec)
	for try := 0; ; try++ {
		err := sendErr(o.s.opts.Queues.SendMessage(o.ctx, dlq, e))
		if err == nil {
			ss.deadLettered.Add(1)
			return
		}
		if errors.As(err, &de) && de.Permanent || try >= 4 || o.ctx.Err() != nil {
			ss.dropped.Add(1)
			o.s.log.Warn("dead-lettering failed; message dropped", "subscription", n.SubscriptionArn, "deadLetterQueue", dlq, "messageId", d.m.rec.ID, "err", err)
			return
		}
		wait, release := after(o.s.clock, time.Second)
		select {
		case <-wait:
		case <-o.ctx.Done():
			release()
		}
	}
}

// finish marks d done; the last delivery of a message deletes its record.
func (o *owner) finish(d *delivery) {
	if o.done(d) {
		o.forget(d.m)
	}
}

// done marks d done and reports whether it was its message's last
// delivery (whose record the caller then deletes).
func (o *owner) done(d *delivery) (last bool) {
	d.ss.pending.Add(-1)
	m := d.m
	m.mu.Lock()
	delete(m.left, d.ss.id)
	n, retrying := len(m.left), m.retrying
	m.mu.Unlock()
	if n == 0 {
		return true
	}
	if retrying {
		o.saveProgress(m)
	}
	return false
}

// forget deletes the records of messages delivered everywhere, in one commit.
func (o *owner) forget(ms ...*inflight) {
	ops := make([]storeOp, 0, len(ms))
	for i, m := range ms {
		if slices.Contains(ms[:i], m) {
			continue
		}
		// A rewrite under way lands first; a later one finds nothing
		// left to save. (Each message is forgotten once, so two forgets
		// never wait for each other.)
		m.saving.Lock()
		defer m.saving.Unlock()
		ops = append(ops, storeOp{TopicID: m.rec.TopicID, MessageID: m.rec.ID})
	}
	if err := o.commit(o.ctx, ops); err != nil && o.ctx.Err() == nil {
		o.s.log.Warn("deleting delivered messages' records failed; they will be delivered again after a restart", "messages", len(ms), "messageId", ms[0].rec.ID, "err", err)
	}
}

// saveProgress rewrites a message's record with the subscriptions still
// pending, once per change, so that after a restart only those get it
// again.
func (o *owner) saveProgress(m *inflight) {
	m.saving.Lock()
	defer m.saving.Unlock()
	m.mu.Lock()
	if len(m.left) == m.written || len(m.left) == 0 {
		m.mu.Unlock()
		return
	}
	rec := *m.rec
	rec.Pending = make([]string, 0, len(m.left))
	for id := range m.left {
		rec.Pending = append(rec.Pending, id)
	}
	m.written = len(m.left)
	m.mu.Unlock()
	if err := o.commit(o.ctx, []storeOp{putOp(&rec)}); err != nil && o.ctx.Err() == nil {
		o.s.log.Warn("saving delivery progress failed", "messageId", rec.ID, "err", err)
	}
}

// storeOp is one write of a message record.
type storeOp = store.TopicOp

func putOp(rec *model.TopicMessage) storeOp {
	b, _ := jsonMarshal(rec)
	return storeOp{TopicID: rec.TopicID, MessageID: rec.ID, Encoded: b}
}

func (o *owner) commit(ctx context.Context, ops []storeOp) error { return o.com.commit(ctx, ops...) }

// after returns a channel closed once d has passed on c, and a function
// releasing the timer early.
func after(c queue.Clock, d time.Duration) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	if d <= 0 {
		close(ch)
		return ch, func() {}
	}
	t := c.AfterFunc(d, func() { close(ch) })
	return ch, func() { t.Stop() }
}
