package topic

import (
	"context"
	"encoding/json"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// topicState is one topic in the owner's memory.
type topicState struct {
	t   *model.Topic // replaced, never changed in place (under owner.mu)
	arn string
	// subs is replaced, never changed in place (under owner.mu).
	subs []*subState

	mu    sync.Mutex // seq and dedup (FIFO topics)
	seq   int64
	dedup map[string]dedupEntry
}

type dedupEntry struct {
	msgID   string
	seq     int64
	expires time.Time
}

// dedupWindow is how long a FIFO topic remembers a deduplication id.
const dedupWindow = 5 * time.Minute

func newTopicState(t *model.Topic, region string) *topicState {
	return &topicState{t: t, arn: model.TopicArn(region, t.Name), dedup: map[string]dedupEntry{}}
}

// TopicInfo is a topic as callers see it.
type TopicInfo struct {
	Name, Arn  string
	Fifo       bool
	Attributes map[string]string
	Tags       map[string]string
}

// CreateTopic creates a topic, or returns the existing one when its
// attributes and tags are the same (SNS's idempotent CreateTopic).
func (s *Service) CreateTopic(ctx context.Context, name string, attrs map[string]string, tags map[string]string) (string, error) {
	if err := model.ValidateTopicName(name); err != nil {
		return "", invalid("Topic Name")
	}
	fifoName := strings.HasSuffix(name, ".fifo")
	if fifoName != (attrs[model.TAFifoTopic] == "true") {
		return "", invalid("Fifo Topic names must end with .fifo and Standard Topic cannot end with .fifo (set the FifoTopic attribute to true for a FIFO topic)")
	}
	for k, v := range attrs {
		if msg := model.CheckTopicAttribute(k, v, fifoName); msg != "" {
			return "", invalid("Attributes: %s: %s", k, msg)
		}
	}
	if len(tags) > model.MaxTopicTags {
		return "", ErrTagLimit
	}
	o, err := s.owner(ctx)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	arn := model.TopicArn(s.opts.Region, name)
	if cur := o.topics[name]; cur != nil {
		for k, v := range attrs {
			if cur.t.Attributes[k] != v {
				return "", invalid("Attributes Reason: Topic already exists with different attributes")
			}
		}
		for k, v := range tags {
			if cur.t.Tags[k] != v {
				return "", invalid("Tags Reason: Topic already exists with different tags")
			}
		}
		return arn, nil
	}
	t := &model.Topic{Name: name, ID: newID(), Attributes: maps.Clone(attrs), Tags: maps.Clone(tags), CreatedMs: s.clock.Now().UnixMilli()}
	if err := s.st.PutTopic(ctx, t, o.guard); err != nil {
		return "", storeErr(err)
	}
	ts := newTopicState(t, s.opts.Region)
	o.topics[name] = ts
	return arn, nil
}

// storeErr turns a store failure into a topic error.
func storeErr(err error) error {
	if strings.Contains(err.Error(), "no longer holds") {
		return ErrUnavailable.With("this server lost ownership of the topics; retry")
	}
	return ErrInternal.With("storing the change failed: %v", err)
}

// topicName reads a topic ARN of this cluster.
func topicName(arn string) (string, error) {
	if arn == "" {
		return "", invalid("TopicArn")
	}
	name, err := model.ArnName(arn, "sns")
	if err != nil || model.ValidateTopicName(name) != nil {
		return "", invalid("TopicArn Reason: %q is not a topic ARN of this cluster (arn:aws:sns:REGION:%s:NAME)", arn, model.AccountID)
	}
	return name, nil
}

// DeleteTopic deletes a topic, its subscriptions and its pending
// deliveries; deleting a topic that does not exist succeeds (as in SNS).
func (s *Service) DeleteTopic(ctx context.Context, topicArn string) error {
	name, err := topicName(topicArn)
	if err != nil {
		return err
	}
	o, err := s.owner(ctx)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.topics[name]
	if t == nil {
		return nil
	}
	ids := make([]string, len(t.subs))
	for i, ss := range t.subs {
		ids[i] = ss.sub.ID
	}
	if err := s.st.DeleteTopic(ctx, t.t, ids, o.guard); err != nil {
		return storeErr(err)
	}
	for _, ss := range t.subs {
		ss.gone.Store(true)
		delete(o.subs, ss.sub.ID)
	}
	delete(o.topics, name)
	return nil
}

// ListTopics returns every topic's ARN in name order.
func (s *Service) ListTopics(ctx context.Context) ([]string, error) {
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]string, 0, len(o.topics))
	for _, t := range o.topics {
		out = append(out, t.arnOf(s.opts.Region))
	}
	sort.Strings(out)
	return out, nil
}

// arnOf is the topic's ARN (set when the state is made; region is unused
// and kept for call sites' clarity).
func (t *topicState) arnOf(string) string { return t.arn }

// GetTopicAttributes returns the attributes SNS shows for a topic, the
// computed ones included.
func (s *Service) GetTopicAttributes(ctx context.Context, topicArn string) (map[string]string, error) {
	name, err := topicName(topicArn)
	if err != nil {
		return nil, err
	}
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	t := o.topics[name]
	if t == nil {
		return nil, ErrTopicNotFound
	}
	arn := t.arnOf(s.opts.Region)
	out := map[string]string{
		"TopicArn":                arn,
		"Owner":                   model.AccountID,
		"DisplayName":             "",
		"Policy":                  defaultPolicy(arn),
		"SubscriptionsConfirmed":  "0",
		"SubscriptionsPending":    "0",
		"SubscriptionsDeleted":    "0",
		"EffectiveDeliveryPolicy": effectiveDeliveryPolicy(t.t.Attributes[model.TADeliveryPolicy]),
	}
	if t.t.Fifo() {
		out[model.TAFifoTopic] = "true"
		out[model.TAContentBasedDeduplication] = "false"
	}
	maps.Copy(out, t.t.Attributes)
	confirmed, pending := 0, 0
	for _, ss := range t.subs {
		if ss.sub.PendingConfirmation {
			pending++
		} else {
			confirmed++
		}
	}
	out["SubscriptionsConfirmed"] = itoa(confirmed)
	out["SubscriptionsPending"] = itoa(pending)
	return out, nil
}

func defaultPolicy(arn string) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2008-10-17", "Id": "__default_policy_ID",
		"Statement": []map[string]any{{
			"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": map[string]string{"AWS": "*"},
			"Action":    []string{"SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"},
			"Resource":  arn,
			"Condition": map[string]any{"StringEquals": map[string]string{"AWS:SourceOwner": model.AccountID}},
		}},
	})
	return string(b)
}

// SetTopicAttributes changes one topic attribute; FifoTopic cannot change.
func (s *Service) SetTopicAttributes(ctx context.Context, topicArn, attr, value string) error {
	name, err := topicName(topicArn)
	if err != nil {
		return err
	}
	if attr == "" {
		return invalid("AttributeName")
	}
	if attr == model.TAFifoTopic {
		return invalid("AttributeName Reason: FifoTopic cannot be changed after the topic is created")
	}
	if msg := model.CheckTopicAttribute(attr, value, strings.HasSuffix(name, ".fifo")); msg != "" {
		return invalid("AttributeName Reason: %s: %s", attr, msg)
	}
	return s.updateTopic(ctx, name, func(t *model.Topic) error {
		if t.Attributes == nil {
			t.Attributes = map[string]string{}
		}
		t.Attributes[attr] = value
		return nil
	}, true)
}

// updateTopic applies fn to a copy of the topic, stores it and swaps it in;
// resolve re-derives the subscriptions' effective policies.
func (s *Service) updateTopic(ctx context.Context, name string, fn func(*model.Topic) error, resolve bool) error {
	o, err := s.owner(ctx)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.topics[name]
	if t == nil {
		return ErrTopicNotFound
	}
	nt := *t.t
	nt.Attributes, nt.Tags = maps.Clone(t.t.Attributes), maps.Clone(t.t.Tags)
	if err := fn(&nt); err != nil {
		return err
	}
	if err := s.st.PutTopic(ctx, &nt, o.guard); err != nil {
		return storeErr(err)
	}
	t.t = &nt
	if resolve {
		for _, ss := range t.subs {
			ss.resolveRetry(&nt)
		}
	}
	return nil
}

// resourceTopic reads a taggable resource ARN: only topics are.
func resourceTopic(arn string) (string, error) {
	name, err := model.ArnName(arn, "sns")
	if err != nil || model.ValidateTopicName(name) != nil {
		return "", ErrNoSuchResource
	}
	return name, nil
}

// TagResource adds or replaces tags on a topic (at most 50 in all).
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	name, err := resourceTopic(arn)
	if err != nil {
		return err
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return invalid("Tags Reason: a tag key is 1 to 128 characters and a value at most 256")
		}
	}
	err = s.updateTopic(ctx, name, func(t *model.Topic) error {
		if t.Tags == nil {
			t.Tags = map[string]string{}
		}
		maps.Copy(t.Tags, tags)
		if len(t.Tags) > model.MaxTopicTags {
			return ErrTagLimit
		}
		return nil
	}, false)
	if err == ErrTopicNotFound {
		return ErrNoSuchResource
	}
	return err
}

// UntagResource removes tags from a topic.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	name, err := resourceTopic(arn)
	if err != nil {
		return err
	}
	err = s.updateTopic(ctx, name, func(t *model.Topic) error {
		for _, k := range keys {
			delete(t.Tags, k)
		}
		return nil
	}, false)
	if err == ErrTopicNotFound {
		return ErrNoSuchResource
	}
	return err
}

// ListTagsForResource returns a topic's tags.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	name, err := resourceTopic(arn)
	if err != nil {
		return nil, err
	}
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	t := o.topics[name]
	if t == nil {
		return nil, ErrNoSuchResource
	}
	return maps.Clone(t.t.Tags), nil
}

// Topics returns every topic with its attributes and tags (for /v1 and
// the CLI).
func (s *Service) Topics(ctx context.Context) ([]TopicInfo, error) {
	o, err := s.owner(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]TopicInfo, 0, len(o.topics))
	for _, t := range o.topics {
		out = append(out, TopicInfo{Name: t.t.Name, Arn: t.arnOf(s.opts.Region), Fifo: t.t.Fifo(), Attributes: maps.Clone(t.t.Attributes), Tags: maps.Clone(t.t.Tags)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
