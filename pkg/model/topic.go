package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Topic attribute names (SNS CreateTopic / SetTopicAttributes).
const (
	TADisplayName               = "DisplayName"
	TAPolicy                    = "Policy"
	TADeliveryPolicy            = "DeliveryPolicy"
	TAFifoTopic                 = "FifoTopic"
	TAContentBasedDeduplication = "ContentBasedDeduplication"
	TAKmsMasterKeyID            = "KmsMasterKeyId"
	TASignatureVersion          = "SignatureVersion"
	TATracingConfig             = "TracingConfig"
)

// Subscription attribute names (SNS Subscribe / SetSubscriptionAttributes).
const (
	SARawMessageDelivery  = "RawMessageDelivery"
	SAFilterPolicy        = "FilterPolicy"
	SAFilterPolicyScope   = "FilterPolicyScope"
	SARedrivePolicy       = "RedrivePolicy"
	SADeliveryPolicy      = "DeliveryPolicy"
	SASubscriptionRoleArn = "SubscriptionRoleArn"
)

// TopicSettableAttributes are the attributes CreateTopic and
// SetTopicAttributes accept.
var TopicSettableAttributes = []string{
	TADisplayName, TAPolicy, TADeliveryPolicy, TAFifoTopic, TAContentBasedDeduplication,
	TAKmsMasterKeyID, TASignatureVersion, TATracingConfig,
}

// SubscriptionSettableAttributes are the attributes Subscribe and
// SetSubscriptionAttributes accept.
var SubscriptionSettableAttributes = []string{
	SARawMessageDelivery, SAFilterPolicy, SAFilterPolicyScope, SARedrivePolicy, SADeliveryPolicy, SASubscriptionRoleArn,
}

// SNS limits.
const (
	MaxTopicNameLen        = 256
	MaxPublishBytes        = 256 * 1024 // message plus attributes
	MaxPublishBatchEntries = 10
	MaxSubjectLen          = 100
	MaxTopicTags           = 50
)

// Subscription protocols.
const (
	ProtocolSQS       = "sqs"
	ProtocolLambda    = "lambda"
	ProtocolHTTP      = "http"
	ProtocolHTTPS     = "https"
	ProtocolEmail     = "email"
	ProtocolEmailJSON = "email-json"
)

// SubscriptionProtocols are the protocols Subscribe accepts.
var SubscriptionProtocols = []string{ProtocolSQS, ProtocolLambda, ProtocolHTTP, ProtocolHTTPS, ProtocolEmail, ProtocolEmailJSON}

// NeedsConfirmation reports whether subscriptions of protocol p stay
// PendingConfirmation until the endpoint confirms (http, https, email).
func NeedsConfirmation(p string) bool {
	return p == ProtocolHTTP || p == ProtocolHTTPS || p == ProtocolEmail || p == ProtocolEmailJSON
}

// TopicArn is the ARN of topic name.
func TopicArn(region, name string) string {
	return "arn:aws:sns:" + region + ":" + AccountID + ":" + name
}

// ArnName returns the last ':'-separated part of an ARN of the given
// service ("sns", "sqs") in this account, or an error saying what is wrong.
func ArnName(arn, service string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != service || parts[5] == "" {
		return "", fmt.Errorf("%q is not an %s ARN (arn:aws:%s:REGION:ACCOUNT:NAME)", arn, service, service)
	}
	if parts[4] != AccountID {
		return "", fmt.Errorf("%q names account %s; this cluster's account is %s", arn, parts[4], AccountID)
	}
	return parts[5], nil
}

// ValidateTopicName checks SNS's rule: 1 to 256 of [A-Za-z0-9_-], and a
// FIFO topic's name ends in .fifo.
func ValidateTopicName(name string) error {
	base := strings.TrimSuffix(name, ".fifo")
	if len(name) == 0 || len(name) > MaxTopicNameLen || base == "" {
		return fmt.Errorf("%w: topic name %q must be 1 to 256 characters", ErrInvalid, name)
	}
	for _, r := range base {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%w: topic name %q may contain only alphanumeric characters, hyphens and underscores (and end in .fifo for a FIFO topic)", ErrInvalid, name)
		}
	}
	return nil
}

// TopicTag is one SNS resource tag (capitalised as SNS spells it).
type TopicTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Topic is a topic as stored.
type Topic struct {
	Name string `json:"name"`
	// ID names this incarnation: a topic deleted and created again under
	// the same name does not inherit pending deliveries.
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	CreatedMs  int64             `json:"createdMs"`

	ModRevision int64 `json:"-"`
}

// Fifo reports whether t is a FIFO topic.
func (t *Topic) Fifo() bool { return t.Attributes[TAFifoTopic] == "true" }

// Subscription is one subscription as stored.
type Subscription struct {
	// ID is the UUID after the topic ARN in the subscription ARN.
	ID         string            `json:"id"`
	TopicName  string            `json:"topic"`
	TopicID    string            `json:"topicId"`
	Protocol   string            `json:"protocol"`
	Endpoint   string            `json:"endpoint"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// PendingConfirmation is true until the endpoint confirms (http,
	// https, email); such subscriptions receive nothing.
	PendingConfirmation bool   `json:"pending,omitempty"`
	Token               string `json:"token,omitempty"`
	TokenExpiresMs      int64  `json:"tokenExpiresMs,omitempty"`
	// ConfirmationSent is set once the SubscriptionConfirmation reached
	// the endpoint or ran out of retries; until then the replica serving
	// the topics (after a restart, or another one taking over) sends it
	// again while the token is valid.
	ConfirmationSent bool  `json:"confirmationSent,omitempty"`
	CreatedMs        int64 `json:"createdMs"`
}

// Arn is the subscription ARN, topicArn:ID.
func (s *Subscription) Arn(region string) string { return TopicArn(region, s.TopicName) + ":" + s.ID }

// TopicMessage is a published message with the deliveries still pending,
// stored before Publish answers and deleted once every delivery ended.
type TopicMessage struct {
	ID         string                           `json:"i"`
	TopicID    string                           `json:"t"`
	Subject    string                           `json:"s,omitempty"`
	Message    string                           `json:"m"`
	Attributes map[string]MessageAttributeValue `json:"a,omitempty"`
	PublishMs  int64                            `json:"p"`
	// Seq orders a FIFO topic's messages (its SequenceNumber) and the
	// load order after a restart.
	Seq             int64  `json:"q"`
	GroupID         string `json:"g,omitempty"`
	DeduplicationID string `json:"d,omitempty"`
	// Structure is "json" when Message holds one text per protocol.
	Structure string `json:"j,omitempty"`
	// Pending are the subscription IDs still to be delivered to.
	Pending []string `json:"n"`
}

// TopicSpec is a `kind: Topic` manifest document: the shape of SNS
// CreateTopic plus the topic's subscriptions.
type TopicSpec struct {
	Name          string             `json:"Name"`
	Attributes    map[string]string  `json:"Attributes,omitempty"`
	Tags          []TopicTag         `json:"Tags,omitempty"`
	Subscriptions []SubscriptionSpec `json:"subscriptions,omitempty"`
}

// SubscriptionSpec is one subscription in a Topic document: the shape of
// SNS Subscribe. An sqs Endpoint may be a queue's name instead of its ARN.
type SubscriptionSpec struct {
	Protocol   string            `json:"Protocol"`
	Endpoint   string            `json:"Endpoint"`
	Attributes map[string]string `json:"Attributes,omitempty"`
}

// Validate checks what can be checked without the topic service: the
// name, attribute names and simple values, protocols and endpoints.
// Filter policies are checked by the topic service when applied.
func (s *TopicSpec) Validate() error {
	var es FieldErrors
	if err := ValidateTopicName(s.Name); err != nil {
		es.Add("Name", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	fifo := strings.HasSuffix(s.Name, ".fifo")
	for k, v := range s.Attributes {
		if msg := CheckTopicAttribute(k, v, fifo); msg != "" {
			es.Add("Attributes."+k, msg)
		}
	}
	if s.Attributes[TAFifoTopic] == "true" && !fifo {
		es.Add("Attributes.FifoTopic", "a FIFO topic's name must end in .fifo")
	}
	if len(s.Tags) > MaxTopicTags {
		es.Add("Tags", fmt.Sprintf("at most %d tags", MaxTopicTags))
	}
	for i, t := range s.Tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			es.Add(fmt.Sprintf("Tags[%d]", i), "a tag needs a Key of 1 to 128 characters and a Value of at most 256")
		}
	}
	for i, sub := range s.Subscriptions {
		p := fmt.Sprintf("subscriptions[%d]", i)
		if msg := CheckProtocol(sub.Protocol); msg != "" {
			es.Add(p+".Protocol", msg)
		}
		if sub.Endpoint == "" {
			es.Add(p+".Endpoint", "required: a queue name or ARN (sqs), a URL (http/https), an address (email) or a function ARN (lambda)")
		}
		for k, v := range sub.Attributes {
			if k == SARedrivePolicy {
				v = redriveByName(v)
			}
			if msg := CheckSubscriptionAttribute(k, v); msg != "" {
				es.Add(p+".Attributes."+k, msg)
			}
		}
	}
	return es.Err()
}

// redriveByName lets a manifest's RedrivePolicy name its dead-letter
// queue by name: it returns the policy with the name as an ARN.
func redriveByName(policy string) string {
	var p map[string]any
	if json.Unmarshal([]byte(policy), &p) != nil {
		return policy
	}
	name, ok := p["deadLetterTargetArn"].(string)
	if !ok || strings.HasPrefix(name, "arn:") || ValidateQueueName(name) != nil {
		return policy
	}
	p["deadLetterTargetArn"] = QueueArn(DefaultRegion, name)
	b, _ := json.Marshal(p)
	return string(b)
}

// CheckProtocol returns what is wrong with a subscription protocol ("" if
// nothing).
func CheckProtocol(p string) string {
	for _, ok := range SubscriptionProtocols {
		if p == ok {
			return ""
		}
	}
	return fmt.Sprintf("protocol %q is not supported: use one of %s", p, strings.Join(SubscriptionProtocols, ", "))
}

// CheckTopicAttribute returns what is wrong with one topic attribute ("" if
// nothing).
func CheckTopicAttribute(name, value string, fifoName bool) string {
	switch name {
	case TADisplayName:
		if len(value) > 100 {
			return "at most 100 characters"
		}
	case TAFifoTopic, TAContentBasedDeduplication:
		if value != "true" && value != "false" {
			return "must be true or false"
		}
		if name == TAFifoTopic && value == "true" && !fifoName {
			return "a FIFO topic's name must end in .fifo"
		}
		if name == TAContentBasedDeduplication && value == "true" && !fifoName {
			return "ContentBasedDeduplication applies to FIFO topics only"
		}
	case TASignatureVersion:
		if value != "1" && value != "2" {
			return "must be 1 or 2"
		}
	case TATracingConfig:
		if value != "PassThrough" && value != "Active" {
			return "must be PassThrough or Active"
		}
	case TADeliveryPolicy:
		if _, err := ParseDeliveryPolicy(value); err != nil {
			return err.Error()
		}
	case TAPolicy:
		if value != "" && !json.Valid([]byte(value)) {
			return "must be a JSON policy document"
		}
		if value != "" {
			if _, err := ParsePolicy([]byte(value), true, "Policy"); err != nil {
				return err.Error() // enforced for task roles, so it must be one Orch can evaluate
			}
		}
	case TAKmsMasterKeyID:
	default:
		return "unknown attribute: use one of " + strings.Join(TopicSettableAttributes, ", ")
	}
	return ""
}

// CheckSubscriptionAttribute returns what is wrong with one subscription
// attribute ("" if nothing). FilterPolicy is checked by the topic service.
func CheckSubscriptionAttribute(name, value string) string {
	switch name {
	case SARawMessageDelivery:
		if value != "true" && value != "false" {
			return "must be true or false"
		}
	case SAFilterPolicyScope:
		if value != "MessageAttributes" && value != "MessageBody" {
			return "must be MessageAttributes or MessageBody"
		}
	case SARedrivePolicy:
		if _, err := ParseSubscriptionRedrivePolicy(value); err != nil {
			return err.Error()
		}
	case SADeliveryPolicy:
		if _, err := ParseDeliveryPolicy(value); err != nil {
			return err.Error()
		}
	case SAFilterPolicy, SASubscriptionRoleArn:
	default:
		return "unknown attribute: use one of " + strings.Join(SubscriptionSettableAttributes, ", ")
	}
	return ""
}

// SubscriptionRedrivePolicy is a subscription's RedrivePolicy: where
// deliveries that ran out of retries go.
type SubscriptionRedrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
}

// ParseSubscriptionRedrivePolicy parses {"deadLetterTargetArn": "arn:aws:sqs:..."};
// "" is no policy (nil).
func ParseSubscriptionRedrivePolicy(s string) (*SubscriptionRedrivePolicy, error) {
	if s == "" {
		return nil, nil
	}
	var p SubscriptionRedrivePolicy
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf(`RedrivePolicy must be {"deadLetterTargetArn": "arn:aws:sqs:REGION:ACCOUNT:QUEUE"}: %v`, err)
	}
	if _, err := ArnName(p.DeadLetterTargetArn, "sqs"); err != nil {
		return nil, fmt.Errorf("RedrivePolicy.deadLetterTargetArn: %v", err)
	}
	return &p, nil
}

// RetryPolicy is SNS's healthyRetryPolicy: how often and how far apart a
// failed delivery is tried again.
type RetryPolicy struct {
	MinDelayTarget     int    `json:"minDelayTarget"`
	MaxDelayTarget     int    `json:"maxDelayTarget"`
	NumRetries         int    `json:"numRetries"`
	NumNoDelayRetries  int    `json:"numNoDelayRetries"`
	NumMinDelayRetries int    `json:"numMinDelayRetries"`
	NumMaxDelayRetries int    `json:"numMaxDelayRetries"`
	BackoffFunction    string `json:"backoffFunction"`
}

// DeliveryPolicy is SNS's DeliveryPolicy, on a topic (under "http") or on
// a subscription (at the top).
type DeliveryPolicy struct {
	HealthyRetryPolicy *RetryPolicy `json:"healthyRetryPolicy,omitempty"`
	// HTTP is the topic-level form: {"http": {"defaultHealthyRetryPolicy": ...}}.
	HTTP *struct {
		DefaultHealthyRetryPolicy    *RetryPolicy    `json:"defaultHealthyRetryPolicy,omitempty"`
		DisableSubscriptionOverrides bool            `json:"disableSubscriptionOverrides,omitempty"`
		DefaultThrottlePolicy        json.RawMessage `json:"defaultThrottlePolicy,omitempty"`
		DefaultRequestPolicy         json.RawMessage `json:"defaultRequestPolicy,omitempty"`
	} `json:"http,omitempty"`
	ThrottlePolicy json.RawMessage `json:"throttlePolicy,omitempty"`
	RequestPolicy  json.RawMessage `json:"requestPolicy,omitempty"`
}

// Retry is the retry policy the document sets, or nil.
func (p *DeliveryPolicy) Retry() *RetryPolicy {
	if p == nil {
		return nil
	}
	if p.HealthyRetryPolicy != nil {
		return p.HealthyRetryPolicy
	}
	if p.HTTP != nil {
		return p.HTTP.DefaultHealthyRetryPolicy
	}
	return nil
}

// ParseDeliveryPolicy parses and checks a DeliveryPolicy ("" is nil) with
// SNS's bounds: delays 1 to 3,600 s, min <= max, at most 100 retries, the
// phases fitting in numRetries, backoff linear, arithmetic, geometric or
// exponential.
func ParseDeliveryPolicy(s string) (*DeliveryPolicy, error) {
	if s == "" {
		return nil, nil
	}
	var p DeliveryPolicy
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("DeliveryPolicy is not a valid delivery policy document: %v", err)
	}
	if r := p.Retry(); r != nil {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("DeliveryPolicy.healthyRetryPolicy: %v", err)
		}
	}
	return &p, nil
}

func (r *RetryPolicy) check() error {
	if r.MinDelayTarget < 1 || r.MaxDelayTarget > 3600 || r.MinDelayTarget > r.MaxDelayTarget {
		return fmt.Errorf("minDelayTarget (%d) and maxDelayTarget (%d) must satisfy 1 <= min <= max <= 3600", r.MinDelayTarget, r.MaxDelayTarget)
	}
	if r.NumRetries < 0 || r.NumRetries > 100 {
		return fmt.Errorf("numRetries %d must be 0 to 100", r.NumRetries)
	}
	if r.NumNoDelayRetries < 0 || r.NumMinDelayRetries < 0 || r.NumMaxDelayRetries < 0 ||
		r.NumNoDelayRetries+r.NumMinDelayRetries+r.NumMaxDelayRetries > r.NumRetries {
		return fmt.Errorf("numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed numRetries (%d)", r.NumRetries)
	}
	switch r.BackoffFunction {
	case "", "linear", "arithmetic", "geometric", "exponential":
	default:
		return fmt.Errorf("backoffFunction %q: use linear, arithmetic, geometric or exponential", r.BackoffFunction)
	}
	return nil
}

// ParseBool reads an SNS boolean attribute ("true"/"false", any case).
func ParseBool(s string) bool { b, _ := strconv.ParseBool(s); return b }
