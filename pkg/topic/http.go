package topic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// httpTimeout bounds one HTTP delivery attempt: SNS gives an endpoint 15 s
// to answer before it counts the attempt as failed.
const httpTimeout = 15 * time.Second

// httpWorkersPerSub bounds how many deliveries to one http/https
// subscription are under way at once. Each subscription has its own
// slots, so a hanging endpoint holds only its own and never delays
// Publish or another subscriber.
const httpWorkersPerSub = 8

// httpDeliverer POSTs notifications to http and https subscriptions as
// SNS does: the envelope (or the raw message with RawMessageDelivery) as
// text/plain with the x-amz-sns-* headers; any 2xx is success.
type httpDeliverer struct {
	client *http.Client
	sign   func(doc map[string]string) // adds the signature fields; may be nil

	mu    sync.Mutex
	slots map[string]chan struct{} // subscription id -> its worker slots
}

func newHTTPDeliverer() *httpDeliverer {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = httpWorkersPerSub
	return &httpDeliverer{client: &http.Client{Timeout: httpTimeout, Transport: tr,
		// SNS does not follow redirects; a 3xx is a failed attempt.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		slots: map[string]chan struct{}{}}
}

func (d *httpDeliverer) slot(subID string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.slots[subID]
	if c == nil {
		c = make(chan struct{}, httpWorkersPerSub)
		d.slots[subID] = c
	}
	return c
}

func (d *httpDeliverer) Deliver(ctx context.Context, n *Notification) error {
	body := n.Envelope
	if n.Raw {
		body = []byte(n.Text)
	}
	h := http.Header{}
	h.Set("x-amz-sns-message-type", "Notification")
	h.Set("x-amz-sns-message-id", n.Message.ID)
	h.Set("x-amz-sns-topic-arn", n.TopicArn)
	h.Set("x-amz-sns-subscription-arn", n.SubscriptionArn)
	if n.Raw {
		h.Set("x-amz-sns-rawdelivery", "true")
	}
	return d.post(ctx, n.Subscription.ID, n.Subscription.Endpoint, h, body)
}

// post sends one request on one of the subscription's worker slots.
func (d *httpDeliverer) post(ctx context.Context, subID, endpoint string, h http.Header, body []byte) error {
	slots := d.slot(subID)
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-slots }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Permanent: true, Code: "InvalidEndpoint", Err: err}
	}
	req.Header = h
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	req.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	resp, err := d.client.Do(req)
	if err != nil {
		return &DeliveryError{Code: "EndpointUnreachable", Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &DeliveryError{Code: fmt.Sprintf("HTTPStatus%d", resp.StatusCode), Err: fmt.Errorf("%s answered %s", endpoint, resp.Status)}
	}
	return nil
}

// forget drops a deleted subscription's slots.
func (d *httpDeliverer) forget(subID string) {
	d.mu.Lock()
	delete(d.slots, subID)
	d.mu.Unlock()
}

// confirmationMessage is the Message of a SubscriptionConfirmation, as SNS
// words it.
func confirmationMessage(topicArn string) string {
	return "You have chosen to subscribe to the topic " + topicArn +
		".\nTo confirm the subscription, visit the SubscribeURL included in this message."
}

// subscribeURL is where a subscriber confirms with a GET: the
// ConfirmSubscription action with the token, as SNS's SubscribeURL.
func subscribeURL(baseURL, topicArn, token string) string {
	return baseURL + "/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(topicArn) + "&Token=" + url.QueryEscape(token)
}

// confirmation renders a SubscriptionConfirmation document.
func (s *Service) confirmation(ctx context.Context, sub *model.Subscription, topicArn, version string) (id string, body []byte) {
	id = newID()
	c := &Envelope{Type: "SubscriptionConfirmation", MessageID: id, Token: sub.Token, TopicArn: topicArn,
		Message: confirmationMessage(topicArn), SubscribeURL: subscribeURL(s.opts.BaseURL, topicArn, sub.Token),
		Timestamp: s.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")}
	s.signEnvelope(ctx, c, version)
	b, _ := jsonMarshal(c)
	return id, b
}

// sendConfirmation POSTs the SubscriptionConfirmation to a new http/https
// subscription, retrying per SNS's http defaults (3 retries 20 s apart)
// while the owner serves; the subscriber confirms through the
// SubscribeURL or ConfirmSubscription.
func (o *owner) sendConfirmation(sub *model.Subscription, topicArn, version string) {
	id, body := o.s.confirmation(o.ctx, sub, topicArn, version)
	h := http.Header{}
	h.Set("x-amz-sns-message-type", "SubscriptionConfirmation")
	h.Set("x-amz-sns-message-id", id)
	h.Set("x-amz-sns-topic-arn", topicArn)
	for attempt := 1; ; attempt++ {
		err := o.s.http.post(o.ctx, sub.ID, sub.Endpoint, h.Clone(), body)
		if o.ctx.Err() != nil {
			return // the next owner sends it again
		}
		if err == nil {
			o.confirmationSent(sub.ID)
			return
		}
		delay, again := nextDelay(nil, sub.Protocol, attempt, false)
		if !again {
			o.s.log.Warn("sending the subscription confirmation failed; subscribe again to resend it", "endpoint", sub.Endpoint, "err", err)
			o.confirmationSent(sub.ID)
			return
		}
		wait, release := after(o.s.clock, delay)
		select {
		case <-wait:
		case <-o.ctx.Done():
			release()
			return
		}
	}
}

// confirmationSent records that a subscription's confirmation has been
// sent (or given up on), so that the next owner does not send it again.
func (o *owner) confirmationSent(subID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ss := o.subs[subID]
	if ss == nil || !ss.sub.PendingConfirmation || ss.sub.ConfirmationSent {
		return
	}
	ns := *ss.sub
	ns.ConfirmationSent = true
	if err := o.s.st.PutSubscription(o.ctx, &ns, o.guard); err != nil {
		if o.ctx.Err() == nil {
			o.s.log.Warn("recording that a subscription confirmation was sent failed; the next owner sends it again", "subscription", subID, "err", err)
		}
		return
	}
	ss.sub = &ns
}

// confirm sends sub's confirmation (http, https, email, email-json) in
// the background.
func (o *owner) confirm(sub *model.Subscription, t *topicState) {
	arn, version := t.arn, signatureVersion(t.t)
	switch sub.Protocol {
	case model.ProtocolHTTP, model.ProtocolHTTPS:
		o.goBackground(func() { o.sendConfirmation(sub, arn, version) })
	case model.ProtocolEmail, model.ProtocolEmailJSON:
		o.goBackground(func() { o.sendEmailConfirmation(sub, arn, version) })
	}
}

// resumeConfirmations sends again, on taking over, the confirmations a
// previous owner had not sent when it stopped, while their tokens are
// valid (under o.mu or before the owner serves).
func (o *owner) resumeConfirmations() int {
	now := o.s.clock.Now().UnixMilli()
	n := 0
	for _, ss := range o.subs {
		sub := ss.sub
		if sub.PendingConfirmation && !sub.ConfirmationSent && sub.TokenExpiresMs > now && ss.broken == "" && !ss.inert {
			o.confirm(sub, ss.topic)
			n++
		}
	}
	return n
}
