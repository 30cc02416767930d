package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AccountID and DefaultRegion live in account.go.

// Queue attribute names (SQS CreateQueue / SetQueueAttributes).
const (
	QADelaySeconds                  = "DelaySeconds"
	QAMaximumMessageSize            = "MaximumMessageSize"
	QAMessageRetentionPeriod        = "MessageRetentionPeriod"
	QAReceiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
	QAVisibilityTimeout             = "VisibilityTimeout"
	QARedrivePolicy                 = "RedrivePolicy"
	QARedriveAllowPolicy            = "RedriveAllowPolicy"
	QAPolicy                        = "Policy"
	QAFifoQueue                     = "FifoQueue"
	QAContentBasedDeduplication     = "ContentBasedDeduplication"
	QADeduplicationScope            = "DeduplicationScope"
	QAFifoThroughputLimit           = "FifoThroughputLimit"
	QAKmsMasterKeyID                = "KmsMasterKeyId"
	QAKmsDataKeyReusePeriodSeconds  = "KmsDataKeyReusePeriodSeconds"
	QASqsManagedSseEnabled          = "SqsManagedSseEnabled"
)

// Read-only queue attributes (GetQueueAttributes).
const (
	QAApproximateNumberOfMessages           = "ApproximateNumberOfMessages"
	QAApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	QAApproximateNumberOfMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	QACreatedTimestamp                      = "CreatedTimestamp"
	QALastModifiedTimestamp                 = "LastModifiedTimestamp"
	QAQueueArn                              = "QueueArn"
)

// QueueSettableAttributes are the attributes CreateQueue and
// SetQueueAttributes accept, in the order GetQueueAttributes(All) lists them.
var QueueSettableAttributes = []string{
	QADelaySeconds, QAMaximumMessageSize, QAMessageRetentionPeriod, QAReceiveMessageWaitTimeSeconds,
	QAVisibilityTimeout, QARedrivePolicy, QARedriveAllowPolicy, QAPolicy, QAFifoQueue,
	QAContentBasedDeduplication, QADeduplicationScope, QAFifoThroughputLimit, QAKmsMasterKeyID,
	QAKmsDataKeyReusePeriodSeconds, QASqsManagedSseEnabled,
}

// QueueReadOnlyAttributes are computed by the queue service.
var QueueReadOnlyAttributes = []string{
	QAApproximateNumberOfMessages, QAApproximateNumberOfMessagesNotVisible, QAApproximateNumberOfMessagesDelayed,
	QACreatedTimestamp, QALastModifiedTimestamp, QAQueueArn,
}

// Limits from the SQS documentation.
const (
	MaxMessageBytes         = 1 << 20 // 1 MiB (SQS since 2025)
	MaxQueueNameLen         = 80
	MaxBatchEntries         = 10
	MaxMessageAttributes    = 10
	MaxReceiveWaitSeconds   = 20
	MaxDelaySeconds         = 900
	MaxVisibilityTimeout    = 43200
	DefaultVisibility       = 30
	DefaultRetentionSeconds = 345600
	FifoDedupWindowSeconds  = 300
)

// Queue is a queue's definition as stored. Attributes holds every settable
// attribute with its canonical string value (defaults filled in), the way
// GetQueueAttributes returns it.
type Queue struct {
	Name string `json:"name"`
	// ID is unique per incarnation of a name: a queue deleted and created
	// again gets a new ID, and its messages are keyed by it.
	ID                    string            `json:"id"`
	Attributes            map[string]string `json:"attributes"`
	Tags                  map[string]string `json:"tags,omitempty"`
	CreatedTimestamp      int64             `json:"createdTimestamp"`      // unix seconds
	LastModifiedTimestamp int64             `json:"lastModifiedTimestamp"` // unix seconds
	ModRevision           int64             `json:"-"`
}

// Fifo reports whether q is a FIFO queue.
func (q *Queue) Fifo() bool { return q.Attributes[QAFifoQueue] == "true" }

// Config parses q's attributes; they were validated when stored.
func (q *Queue) Config() QueueConfig {
	c, _ := ParseQueueAttributes(q.Attributes, q.Fifo())
	return c
}

// QueueArn is the ARN of queue name in region.
func QueueArn(region, name string) string {
	return "arn:aws:sqs:" + region + ":" + AccountID + ":" + name
}

// QueueNameFromArn returns the queue name of an SQS ARN, or "" when arn is
// not one.
func QueueNameFromArn(arn string) string {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[2] != "sqs" {
		return ""
	}
	return p[5]
}

// RedrivePolicy sends messages received more than MaxReceiveCount times to
// the dead-letter queue DeadLetterTargetArn.
type RedrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// RedriveAllowPolicy says which source queues may use a queue as their
// dead-letter queue.
type RedriveAllowPolicy struct {
	RedrivePermission string   `json:"redrivePermission"` // allowAll, denyAll, byQueue
	SourceQueueArns   []string `json:"sourceQueueArns,omitempty"`
}

// Allows reports whether a queue with ARN src may use this policy's queue
// as its dead-letter queue.
func (p *RedriveAllowPolicy) Allows(src string) bool {
	if p == nil {
		return true
	}
	switch p.RedrivePermission {
	case "denyAll":
		return false
	case "byQueue":
		for _, a := range p.SourceQueueArns {
			if a == src {
				return true
			}
		}
		return false
	}
	return true
}

// QueueConfig is the typed form of a queue's attributes.
type QueueConfig struct {
	DelaySeconds                  int
	MaximumMessageSize            int
	MessageRetentionPeriod        int
	ReceiveMessageWaitTimeSeconds int
	VisibilityTimeout             int
	Redrive                       *RedrivePolicy
	RedriveAllow                  *RedriveAllowPolicy
	Fifo                          bool
	ContentBasedDeduplication     bool
	// DeduplicationScope is "queue" or "messageGroup".
	DeduplicationScope string
}

// ErrUnknownAttribute is wrapped by attribute errors naming an attribute SQS
// does not have (SQS: InvalidAttributeName).
var ErrUnknownAttribute = errors.New("model: unknown attribute")

// AttributeError is an invalid attribute value (SQS: InvalidAttributeValue),
// or with Unknown set, an attribute that does not exist.
type AttributeError struct {
	Name    string
	Message string
	Unknown bool
}

func (e *AttributeError) Error() string {
	if e.Unknown {
		return "Unknown Attribute " + e.Name + "."
	}
	return "Invalid value for the parameter " + e.Name + ". Reason: " + e.Message
}

func (e *AttributeError) Unwrap() error {
	if e.Unknown {
		return ErrUnknownAttribute
	}
	return ErrInvalid
}

// QueueDefaults are the attribute values of a queue created without them.
func QueueDefaults(fifo bool) map[string]string {
	m := map[string]string{
		QADelaySeconds:                  "0",
		QAMaximumMessageSize:            strconv.Itoa(MaxMessageBytes),
		QAMessageRetentionPeriod:        strconv.Itoa(DefaultRetentionSeconds),
		QAReceiveMessageWaitTimeSeconds: "0",
		QAVisibilityTimeout:             strconv.Itoa(DefaultVisibility),
		QASqsManagedSseEnabled:          "true",
	}
	if fifo {
		m[QAFifoQueue] = "true"
		m[QAContentBasedDeduplication] = "false"
		m[QADeduplicationScope] = "queue"
		m[QAFifoThroughputLimit] = "perQueue"
	}
	return m
}

func intAttr(attrs map[string]string, name string, lo, hi int) (int, error) {
	v, ok := attrs[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, &AttributeError{Name: name, Message: fmt.Sprintf("must be an integer from %d to %d.", lo, hi)}
	}
	return n, nil
}

func boolAttr(attrs map[string]string, name string) (bool, error) {
	v, ok := attrs[name]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &AttributeError{Name: name, Message: "must be true or false."}
}

// ParseQueueAttributes validates attribute values (after defaults were merged
// in) for a standard or FIFO queue.
func ParseQueueAttributes(attrs map[string]string, fifo bool) (QueueConfig, error) {
	var c QueueConfig
	var err error
	known := map[string]bool{}
	for _, n := range QueueSettableAttributes {
		known[n] = true
	}
	for n := range attrs {
		if !known[n] {
			return c, &AttributeError{Name: n, Unknown: true}
		}
	}
	if c.DelaySeconds, err = intAttr(attrs, QADelaySeconds, 0, MaxDelaySeconds); err != nil {
		return c, err
	}
	if c.MaximumMessageSize, err = intAttr(attrs, QAMaximumMessageSize, 1024, MaxMessageBytes); err != nil {
		return c, err
	}
	if c.MessageRetentionPeriod, err = intAttr(attrs, QAMessageRetentionPeriod, 60, 1209600); err != nil {
		return c, err
	}
	if c.ReceiveMessageWaitTimeSeconds, err = intAttr(attrs, QAReceiveMessageWaitTimeSeconds, 0, MaxReceiveWaitSeconds); err != nil {
		return c, err
	}
	if c.VisibilityTimeout, err = intAttr(attrs, QAVisibilityTimeout, 0, MaxVisibilityTimeout); err != nil {
		return c, err
	}
	if _, err = intAttr(attrs, QAKmsDataKeyReusePeriodSeconds, 60, 86400); err != nil {
		return c, err
	}
	if _, err = boolAttr(attrs, QASqsManagedSseEnabled); err != nil {
		return c, err
	}
	if v, ok := attrs[QARedrivePolicy]; ok && v != "" {
		rp, err := ParseRedrivePolicy(v)
		if err != nil {
			return c, err
		}
		c.Redrive = rp
	}
	if v, ok := attrs[QARedriveAllowPolicy]; ok && v != "" {
		var p RedriveAllowPolicy
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			return c, &AttributeError{Name: QARedriveAllowPolicy, Message: "Invalid JSON."}
		}
		switch p.RedrivePermission {
		case "allowAll", "denyAll":
		case "byQueue":
			if len(p.SourceQueueArns) == 0 || len(p.SourceQueueArns) > 10 {
				return c, &AttributeError{Name: QARedriveAllowPolicy, Message: "byQueue needs 1 to 10 sourceQueueArns."}
			}
		default:
			return c, &AttributeError{Name: QARedriveAllowPolicy, Message: "redrivePermission must be allowAll, denyAll or byQueue."}
		}
		c.RedriveAllow = &p
	}
	if v, ok := attrs[QAPolicy]; ok && v != "" {
		if !json.Valid([]byte(v)) {
			return c, &AttributeError{Name: QAPolicy, Message: "Invalid JSON."}
		}
		// The Policy is enforced (task roles), so one Orch could not
		// evaluate as written is refused rather than half applied.
		if _, err := ParsePolicy([]byte(v), true, "Policy"); err != nil {
			return c, &AttributeError{Name: QAPolicy, Message: err.Error()}
		}
	}
	isFifo, err := boolAttr(attrs, QAFifoQueue)
	if err != nil {
		return c, err
	}
	if _, ok := attrs[QAFifoQueue]; ok && isFifo != fifo {
		if fifo {
			return c, &AttributeError{Name: QAFifoQueue, Message: "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix."}
		}
		return c, &AttributeError{Name: QAFifoQueue, Message: "The name of a FIFO queue must end with the .fifo suffix."}
	}
	c.Fifo = fifo
	fifoOnly := []string{QAContentBasedDeduplication, QADeduplicationScope, QAFifoThroughputLimit}
	if !fifo {
		for _, n := range fifoOnly {
			if _, ok := attrs[n]; ok {
				return c, &AttributeError{Name: n, Unknown: true}
			}
		}
		return c, nil
	}
	if c.ContentBasedDeduplication, err = boolAttr(attrs, QAContentBasedDeduplication); err != nil {
		return c, err
	}
	c.DeduplicationScope = "queue"
	if v, ok := attrs[QADeduplicationScope]; ok {
		if v != "queue" && v != "messageGroup" {
			return c, &AttributeError{Name: QADeduplicationScope, Message: "must be queue or messageGroup."}
		}
		c.DeduplicationScope = v
	}
	if v, ok := attrs[QAFifoThroughputLimit]; ok && v != "perQueue" && v != "perMessageGroupId" {
		return c, &AttributeError{Name: QAFifoThroughputLimit, Message: "must be perQueue or perMessageGroupId."}
	}
	return c, nil
}

// ParseRedrivePolicy parses a RedrivePolicy attribute; maxReceiveCount may
// be a JSON number or string, as SQS accepts both.
func ParseRedrivePolicy(v string) (*RedrivePolicy, error) {
	var raw struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, &AttributeError{Name: QARedrivePolicy, Message: "Invalid JSON."}
	}
	if QueueNameFromArn(raw.DeadLetterTargetArn) == "" {
		return nil, &AttributeError{Name: QARedrivePolicy, Message: "Dead-letter target ARN is not a valid SQS queue ARN."}
	}
	s := strings.Trim(string(raw.MaxReceiveCount), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return nil, &AttributeError{Name: QARedrivePolicy, Message: "Value for parameter maxReceiveCount must be an integer from 1 to 1000."}
	}
	return &RedrivePolicy{DeadLetterTargetArn: raw.DeadLetterTargetArn, MaxReceiveCount: n}, nil
}

// String is the canonical JSON of a redrive policy.
func (p *RedrivePolicy) String() string {
	return fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, p.DeadLetterTargetArn, p.MaxReceiveCount)
}

// ValidateQueueName checks an SQS queue name: 1-80 characters of
// [A-Za-z0-9_-], FIFO queues ending in .fifo (counted in the 80).
func ValidateQueueName(name string) error {
	base := strings.TrimSuffix(name, ".fifo")
	if len(name) == 0 || len(name) > MaxQueueNameLen || base == "" {
		return fmt.Errorf("%w: queue name %q must be 1 to 80 characters", ErrInvalid, name)
	}
	for _, r := range base {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%w: queue name %q may contain only alphanumeric characters, hyphens and underscores (and end in .fifo for a FIFO queue)", ErrInvalid, name)
		}
	}
	return nil
}

// ValidMessageText reports whether s has only the characters SQS allows in
// message bodies and attribute values: #x9 #xA #xD #x20-#xD7FF
// #xE000-#xFFFD #x10000-#x10FFFF, as valid UTF-8.
func ValidMessageText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != 0x9 && c != 0xA && c != 0xD {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if r >= 0xD800 && r <= 0xDFFF || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// MessageAttributeValue is a typed message attribute (SQS
// MessageAttributeValue). DataType is String, Number or Binary, optionally
// followed by ".label".
type MessageAttributeValue struct {
	DataType    string `json:"t"`
	StringValue string `json:"s,omitempty"`
	BinaryValue []byte `json:"b,omitempty"`
}

// IsBinary reports whether the value is carried as bytes.
func (v MessageAttributeValue) IsBinary() bool { return strings.HasPrefix(v.DataType, "Binary") }

// QueueMessage is a message as stored in etcd. Receive state (visibility,
// receipt handles) lives only in the owning process's memory, except the
// receive count, which is approximate anyway.
type QueueMessage struct {
	MessageID  string                           `json:"i"`
	Body       string                           `json:"b"`
	Attributes map[string]MessageAttributeValue `json:"a,omitempty"`
	// TraceHeader is the AWSTraceHeader system attribute.
	TraceHeader string `json:"x,omitempty"`
	SenderID    string `json:"u,omitempty"`
	SentMs      int64  `json:"t"`
	// VisibleAtMs is when a delayed message first becomes visible.
	VisibleAtMs int64 `json:"v,omitempty"`
	// Seq orders messages: FIFO sequence number and load order.
	Seq             int64  `json:"q"`
	GroupID         string `json:"g,omitempty"`
	DeduplicationID string `json:"d,omitempty"`
	MD5OfBody       string `json:"m"`
	MD5OfAttributes string `json:"n,omitempty"`
	MD5OfSysAttrs   string `json:"o,omitempty"`
	ReceiveCount    int    `json:"r,omitempty"`
	FirstReceiveMs  int64  `json:"f,omitempty"`
	// DeadLetterSourceArn is the queue a dead-lettered message came from
	// (the default destination of a redrive).
	DeadLetterSourceArn string `json:"s,omitempty"`
}

// Size is the message's size as SQS counts it against MaximumMessageSize:
// body plus attribute names, types and values.
func (m *QueueMessage) Size() int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	return n
}
