package topic

import (
	"context"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/topic/filter"
)

// subState is one subscription in the owner's memory, with what it needs
// to deliver (its filter, retry policy and dead-letter queue) and its
// counters.
type subState struct {
	// id and protocol never change; read them without the lock.
	id, protocol string
	sub          *model.Subscription // replaced, never changed in place (under owner.mu)
	topic        *topicState
	filter       *filter.Policy // nil: every message
	raw          bool
	retry        atomic.Pointer[model.RetryPolicy] // explicit policy (subscription, else topic); nil: SNS's default
	dlq          string                            // dead-letter queue name, "" for none
	// broken says why a stored subscription cannot be served (an
	// attribute this build cannot read); it then receives nothing.
	broken string
	// inert subscriptions are stored but receive nothing: their
	// protocol has no deliverer on this server yet (lambda without a
	// function runtime; email and email-json without an SMTP relay).
	inert bool
	gone  atomic.Bool // unsubscribed: its pending deliveries end

	delivered, failures, deadLettered, dropped, pending atomic.Int64

	chMu   sync.Mutex
	chains map[string]*chain // FIFO: one ordered chain per message group

	wMu  sync.Mutex
	work deliveryQueue // standard topics: deliveries waiting for a worker (workers.go)
}

// newSubState derives what a subscription needs to deliver.
func (o *owner) newSubState(t *topicState, sub *model.Subscription) (*subState, error) {
	ss := &subState{id: sub.ID, protocol: sub.Protocol, sub: sub, topic: t, chains: map[string]*chain{}}
	ss.inert = o.s.dels[sub.Protocol] == nil || sub.Protocol == model.ProtocolLambda && o.s.opts.Functions == nil
	f, err := compileFilter(sub.Attributes[model.SAFilterPolicy], sub.Attributes[model.SAFilterPolicyScope])
	if err != nil {
		return nil, err
	}
	ss.filter = f
	ss.raw = model.ParseBool(sub.Attributes[model.SARawMessageDelivery])
	rp, err := model.ParseSubscriptionRedrivePolicy(sub.Attributes[model.SARedrivePolicy])
	if err != nil {
		return nil, invalid("RedrivePolicy: %v", err)
	}
	if rp != nil {
		ss.dlq, _ = model.ArnName(rp.DeadLetterTargetArn, "sqs")
	}
	ss.resolveRetry(t.t)
	return ss, nil
}

// resolveRetry picks the explicit retry policy: the subscription's
// DeliveryPolicy, else the topic's.
func (ss *subState) resolveRetry(t *model.Topic) {
	if p, _ := model.ParseDeliveryPolicy(ss.sub.Attributes[model.SADeliveryPolicy]); p.Retry() != nil {
		ss.retry.Store(p.Retry())
		return
	}
	p, _ := model.ParseDeliveryPolicy(t.Attributes[model.TADeliveryPolicy])
	ss.retry.Store(p.Retry())
}

// SubscribeInput is a Subscribe request.
type SubscribeInput struct {
	TopicArn, Protocol, Endpoint string
	Attributes                   map[string]string
}

// Subscribe adds a subscription, or returns the existing one for the same
// protocol and endpoint when its attributes match. It returns the
// subscription ARN and whether the subscription awaits confirmation.
func (s *Service) Subscribe(ctx context.Context, in SubscribeInput) (string, bool, error) {
	name, err := topicName(in.TopicArn)
	if err != nil {
		return "", false, err
	}
	if model.CheckProtocol(in.Protocol) != "" {
		return "", false, invalid("Amazon SNS does not support this protocol string: %s (use one of %s)", in.Protocol, strings.Join(model.SubscriptionProtocols, ", "))
	}
	if err := checkEndpoint(in.Protocol, in.Endpoint, strings.HasSuffix(name, ".fifo")); err != nil {
		return "", false, err
	}
	if in.Protocol == model.ProtocolLambda && s.opts.Functions == nil {
		return "", false, invalid("Protocol Reason: lambda subscriptions need functions, which this server does not run yet; subscribe a queue (sqs) or a web server (http, https) instead")
	}
	for k, v := range in.Attributes {
		if msg := model.CheckSubscriptionAttribute(k, v); msg != "" {
			return "", false, invalid("Attributes Reason: %s: %s", k, msg)
		}
	}
	if _, err := compileFilter(in.Attributes[model.SAFilterPolicy], in.Attributes[model.SAFilterPolicyScope]); err != nil {
		return "", false, err
	}
	o, err := s.owner(ctx)
	if err != nil {
		return "", false, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.topics[name]
	if t == nil {
		return "", false, ErrTopicNotFound
	}
	for _, ss := range t.subs {
		if ss.sub.Protocol == in.Protocol && ss.sub.Endpoint == in.Endpoint {
			for k, v := range in.Attributes {
				if ss.sub.Attributes[k] != v {
					return "", false, invalid("Attributes Reason: Subscription already exists with different attributes")
				}
			}
			return ss.sub.Arn(s.opts.Region), ss.sub.PendingConfirmation, nil
		}
	}
	now := s.clock.Now()
	sub := &model.Subscription{ID: newID(), TopicName: name, TopicID: t.t.ID, Protocol: in.Protocol, Endpoint: in.Endpoint,
		Attributes: maps.Clone(in.Attributes), CreatedMs: now.UnixMilli()}
	if model.NeedsConfirmation(in.Protocol) {
		sub.PendingConfirmation = true
		sub.Token = newID() + newID()
		sub.TokenExpiresMs = now.Add(48 * time.Hour).UnixMilli()
	}
	ss, err := o.newSubState(t, sub)
	if err != nil {
		return "", false, err
	}
	if err := s.st.PutSubscription(ctx, sub, o.guard); err != nil {
		return "", false, storeErr(err)
	}
	t.subs = append(append([]*subState(nil), t.subs...), ss)
	o.subs[sub.ID] = ss
	if sub.PendingConfirmation && !ss.inert {
		o.confirm(sub, t)
	}
	return sub.Arn(s.opts.Region), sub.PendingConfirmation, nil
}

// checkEndpoint checks an endpoint's shape for its protocol.
func checkEndpoint(protocol, endpoint string, fifoTopic bool) error {
	switch protocol {
	case model.ProtocolSQS:
		q, err := model.ArnName(endpoint, "sqs")
		if err != nil {
			return invalid("SQS endpoint ARN: %v", err)
		}
		if strings.HasSuffix(q, ".fifo") && !fifoTopic {
			return invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
		}
	case model.ProtocolLambda:
		if _, err := model.ArnName(endpoint, "lambda"); err != nil && !strings.HasPrefix(endpoint, "arn:aws:lambda:") {
			return invalid("Lambda endpoint ARN: %q is not a function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)", endpoint)
		}
	case model.ProtocolHTTP, model.ProtocolHTTPS:
		if !strings.HasPrefix(endpoint, protocol+"://") {
			return invalid("Endpoint Reason: an %s endpoint must start with %s://", protocol, protocol)
		}
	case model.ProtocolEmail, model.ProtocolEmailJSON:
		if !strings.Contains(endpoint, "@") {
			return invalid("Endpoint Reason: an email endpoint must be an address")
		}
	}
	return nil
}

// subscription finds a subscription by ARN.
func (o *owner) subscription(arn string) (*subState, error) {
	i := strings.LastIndexByte(arn, ':')
	if i < 0 || !strings.HasPrefix(arn, "arn:aws:sns:") {
		return nil, invalid("SubscriptionArn Reason: %q is not a subscription ARN (TOPIC_ARN:ID)", arn)
	}
	o.mu.RLock()
	ss := o.subs[arn[i+1:]]
	ok := ss != nil && ss.sub.Arn(o.s.opts.Region) == arn
	o.mu.RUnlock()
	if !ok {
		return nil, ErrSubNotFound
	}
	return ss, nil
}

// ConfirmSubscription confirms a pending subscription by the token it was
// sent; it returns the subscription ARN.
func (s *Service) ConfirmSubscription(ctx context.Context, topicArn, token string) (string, error) {
	name, err := topicName(topicArn)
	if err != nil {
		return "", err
	}
	if token == "" {
		return "", invalid("Token")
	}
	o, err := s.owner(ctx)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.topics[name]
	if t == nil {
		return "", ErrTopicNotFound
	}
	for _, ss := range t.subs {
		if ss.sub.Token != token {
			continue
		}
		if !ss.sub.PendingConfirmation {
			return ss.sub.Arn(s.opts.Region), nil
		}
		if s.clock.Now().UnixMilli() > ss.sub.TokenExpiresMs {
			return "", invalid("Token Reason: the confirmation token expired; subscribe again")
		}
		ns := *ss.sub
		ns.PendingConfirmation = false
		if err := s.st.PutSubscription(ctx, &ns, o.guard); err != nil {
			return "", storeErr(err)
		}
		ss.sub = &ns
		return ns.Arn(s.opts.Region), nil
	}
	return "", invalid("Token")
}

// Unsubscribe deletes a subscription; its pending deliveries end.
func (s *Service) Unsubscribe(ctx context.Context, subArn string) error {
	o, err := s.owner(ctx)
	if err != nil {
		return err
	}
	ss, err := o.subscription(subArn)
	if err == ErrSubNotFound {
		return nil // as SNS: unsubscribing twice succeeds
	}
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := s.st.DeleteSubscription(ctx, ss.sub.ID, o.guard); err != nil {
		return storeErr(err)
	}
	ss.gone.Store(true)
	s.http.forget(ss.sub.ID)
	delete(o.subs, ss.sub.ID)
	t := ss.topic
	subs := make([]*subState, 0, len(t.subs))
	for _, x := range t.subs {
		if x != ss {
			subs = append(subs, x)
		}
	}
	t.subs = subs
	return nil
}

// SubscriptionInfo is a subscription as ListSubscriptions and describe show it.
type SubscriptionInfo struct {
	Arn, TopicArn, Protocol, Endpoint, Owner string
	PendingConfirmation                      bool
	Attributes                               map[string]string
	// Delivered, Failures (failed attempts), DeadLettered, Pending
	// (deliveries under way or waiting for a retry) and Dropped (ran out
	// of retries without a dead-letter queue) count since this replica
	// took over.
	Delivered, Failures, DeadLettered, Pending, Dropped int64
	// State is "confirmed", "pending confirmation", or why the
	// subscription receives nothing.
	State string
}

func (s *Service) info(ss *subState) SubscriptionInfo {
	arn := ss.sub.Arn(s.opts.Region)
	in := SubscriptionInfo{Arn: arn, TopicArn: model.TopicArn(s.opts.Region, ss.sub.TopicName), Protocol: ss.sub.Protocol,
		Endpoint: ss.sub.Endpoint, Owner: model.AccountID, PendingConfirmation: ss.sub.PendingConfirmation,
		Attributes: maps.Clone(ss.sub.Attributes), Delivered: ss.delivered.Load(), Failures: ss.failures.Load(),
		DeadLettered: ss.deadLettered.Load(), Pending: ss.pending.Load(), Dropped: ss.dropped.Load(), State: "confirmed"}
	switch {
	case ss.broken != "":
		in.State = "not delivered to: " + ss.broken
	case ss.sub.PendingConfirmation && ss.inert:
		in.State = "pending confirmation; nothing delivered: no SMTP relay configured (orch server --smtp-relay HOST:PORT)"
	case ss.sub.PendingConfirmation:
		in.State = "pending confirmation (the endpoint was sent a SubscriptionConfirmation with the SubscribeURL)"
	case ss.inert && ss.sub.Protocol == model.ProtocolLambda:
		in.State = "confirmed; nothing delivered: no function runtime yet"
	case ss.inert && (ss.sub.Protocol == model.ProtocolEmail || ss.sub.Protocol == model.ProtocolEmailJSON):
		in.State = "nothing delivered: no SMTP relay configured (orch server --smtp-relay HOST:PORT)"
	case ss.inert:
		in.State = "confirmed; nothing delivered: " + ss.sub.Protocol + " delivery is not built yet"
	}
	return in
}

// ListSubscriptions lists every subscription, or a topic's (topicArn set),
// ordered by topic then creation.
func (s *Service) ListSubscriptions(ctx context.Context, topicArn string) ([]SubscriptionInfo, error) {
	var name string
	if topicArn != "" {
		var err error
		if name, err = topicName(topicArn); err != nil {
			return nil, err
		}
	}
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	var ts []*topicState
	if name != "" {
		t := o.topics[name]
		if t == nil {
			return nil, ErrTopicNotFound
		}
		ts = []*topicState{t}
	} else {
		for _, t := range o.topics {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].t.Name < ts[j].t.Name })
	}
	var out []SubscriptionInfo
	for _, t := range ts {
		for _, ss := range t.subs {
			out = append(out, s.info(ss))
		}
	}
	return out, nil
}

// GetSubscriptionAttributes returns the attributes SNS shows for a
// subscription.
func (s *Service) GetSubscriptionAttributes(ctx context.Context, subArn string) (map[string]string, error) {
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := o.subscription(subArn)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	sub := ss.sub
	out := map[string]string{
		"SubscriptionArn":              sub.Arn(s.opts.Region),
		"TopicArn":                     model.TopicArn(s.opts.Region, sub.TopicName),
		"Owner":                        model.AccountID,
		"Protocol":                     sub.Protocol,
		"Endpoint":                     sub.Endpoint,
		"ConfirmationWasAuthenticated": strconv.FormatBool(!sub.PendingConfirmation),
		"PendingConfirmation":          strconv.FormatBool(sub.PendingConfirmation),
		"RawMessageDelivery":           "false",
		"SubscriptionPrincipal":        "arn:aws:iam::" + model.AccountID + ":root",
		"EffectiveDeliveryPolicy":      effectiveDeliveryPolicy(sub.Attributes[model.SADeliveryPolicy]),
	}
	maps.Copy(out, sub.Attributes)
	if out[model.SAFilterPolicy] != "" && out[model.SAFilterPolicyScope] == "" {
		out[model.SAFilterPolicyScope] = "MessageAttributes"
	}
	return out, nil
}

// SetSubscriptionAttributes changes one subscription attribute.
func (s *Service) SetSubscriptionAttributes(ctx context.Context, subArn, attr, value string) error {
	if attr == "" {
		return invalid("AttributeName")
	}
	if msg := model.CheckSubscriptionAttribute(attr, value); msg != "" {
		return invalid("AttributeName Reason: %s: %s", attr, msg)
	}
	o, err := s.owner(ctx)
	if err != nil {
		return err
	}
	ss, err := o.subscription(subArn)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ns := *ss.sub
	ns.Attributes = maps.Clone(ss.sub.Attributes)
	if ns.Attributes == nil {
		ns.Attributes = map[string]string{}
	}
	if value == "" {
		delete(ns.Attributes, attr)
	} else {
		ns.Attributes[attr] = value
	}
	if _, err := compileFilter(ns.Attributes[model.SAFilterPolicy], ns.Attributes[model.SAFilterPolicyScope]); err != nil {
		return err
	}
	nss, err := o.newSubState(ss.topic, &ns)
	if err != nil {
		return err
	}
	if err := s.st.PutSubscription(ctx, &ns, o.guard); err != nil {
		return storeErr(err)
	}
	// Swap in the new derived state, keeping the counters and chains.
	ss.sub, ss.filter, ss.raw, ss.dlq, ss.inert = nss.sub, nss.filter, nss.raw, nss.dlq, nss.inert
	ss.retry.Store(nss.retry.Load())
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
