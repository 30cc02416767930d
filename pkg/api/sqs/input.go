package sqs

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/queue"
)

// input is every parameter any SQS action takes, decoded from either
// protocol: JSON 1.0 bodies decode straight into it; query/form parameters
// (Attribute.1.Name, SendMessageBatchRequestEntry.2.MessageBody, ...) are
// folded into it by decodeQuery.
type input struct {
	QueueUrl                     string
	QueueName                    string
	QueueNamePrefix              string
	QueueOwnerAWSAccountId       string
	NextToken                    string
	ReceiptHandle                string
	MessageBody                  *string
	MessageDeduplicationId       string
	MessageGroupId               string
	ReceiveRequestAttemptId      string
	SourceArn                    string
	DestinationArn               string
	TaskHandle                   string
	Label                        string
	MaxResults                   *int
	DelaySeconds                 *int
	MaxNumberOfMessages          *int
	VisibilityTimeout            *int
	WaitTimeSeconds              *int
	MaxNumberOfMessagesPerSecond *int
	Attributes                   map[string]string
	Tags                         map[string]string `json:"Tags"`
	CreateTags                   map[string]string `json:"tags"`
	AttributeNames               []string
	MessageSystemAttributeNames  []string
	MessageAttributeNames        []string
	TagKeys                      []string
	MessageAttributes            map[string]msgAttr
	MessageSystemAttributes      map[string]msgAttr
	Entries                      []entry
}

type entry struct {
	Id                      string
	MessageBody             *string
	ReceiptHandle           string
	MessageDeduplicationId  string
	MessageGroupId          string
	DelaySeconds            *int
	VisibilityTimeout       *int
	MessageAttributes       map[string]msgAttr
	MessageSystemAttributes map[string]msgAttr
}

type msgAttr struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty"`
	BinaryListValues [][]byte `json:",omitempty"`
}

func decodeJSON(body []byte) (*input, error) {
	if len(body) == 0 {
		return &input{}, nil
	}
	if fast, ok := decodeJSONFast(body); ok {
		return fast, nil
	}
	// Allocated here, not before the fast path: an input is about half a
	// kilobyte, and every hot request would allocate one for nothing.
	in := &input{}
	if err := json.Unmarshal(body, in); err != nil {
		return nil, errSerialization(err)
	}
	return in, nil
}

// Query parameters holding numbers.
var queryInts = map[string]func(*input) **int{
	"MaxResults":                   func(in *input) **int { return &in.MaxResults },
	"DelaySeconds":                 func(in *input) **int { return &in.DelaySeconds },
	"MaxNumberOfMessages":          func(in *input) **int { return &in.MaxNumberOfMessages },
	"VisibilityTimeout":            func(in *input) **int { return &in.VisibilityTimeout },
	"WaitTimeSeconds":              func(in *input) **int { return &in.WaitTimeSeconds },
	"MaxNumberOfMessagesPerSecond": func(in *input) **int { return &in.MaxNumberOfMessagesPerSecond },
}

var queryStrings = map[string]func(*input) *string{
	"QueueUrl":                func(in *input) *string { return &in.QueueUrl },
	"QueueName":               func(in *input) *string { return &in.QueueName },
	"QueueNamePrefix":         func(in *input) *string { return &in.QueueNamePrefix },
	"QueueOwnerAWSAccountId":  func(in *input) *string { return &in.QueueOwnerAWSAccountId },
	"NextToken":               func(in *input) *string { return &in.NextToken },
	"ReceiptHandle":           func(in *input) *string { return &in.ReceiptHandle },
	"MessageDeduplicationId":  func(in *input) *string { return &in.MessageDeduplicationId },
	"MessageGroupId":          func(in *input) *string { return &in.MessageGroupId },
	"ReceiveRequestAttemptId": func(in *input) *string { return &in.ReceiveRequestAttemptId },
	"SourceArn":               func(in *input) *string { return &in.SourceArn },
	"DestinationArn":          func(in *input) *string { return &in.DestinationArn },
	"TaskHandle":              func(in *input) *string { return &in.TaskHandle },
	"Label":                   func(in *input) *string { return &in.Label },
}

func badParam(name, value, why string) error {
	return queue.ErrInvalidParameterValue.With("Value %s for parameter %s is invalid. Reason: %s", value, name, why)
}

func parseInt(name, v string) (*int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return nil, badParam(name, v, "must be an integer.")
	}
	return &n, nil
}

// decodeQuery folds query/form parameters into an input.
func decodeQuery(form url.Values) (*input, error) {
	in := &input{}
	for k, vs := range form {
		v := vs[0]
		if f, ok := queryStrings[k]; ok {
			*f(in) = v
			continue
		}
		if f, ok := queryInts[k]; ok {
			n, err := parseInt(k, v)
			if err != nil {
				return nil, err
			}
			*f(in) = n
			continue
		}
		if k == "MessageBody" {
			s := v
			in.MessageBody = &s
		}
	}
	var err error
	in.Attributes = indexedMap(form, "Attribute", "Name", "Value")
	in.Tags = indexedMap(form, "Tag", "Key", "Value")
	in.CreateTags = in.Tags
	in.AttributeNames = indexedList(form, "AttributeName")
	in.MessageSystemAttributeNames = indexedList(form, "MessageSystemAttributeName")
	in.MessageAttributeNames = indexedList(form, "MessageAttributeName")
	in.TagKeys = indexedList(form, "TagKey")
	if in.MessageAttributes, err = queryMsgAttrs(form, "MessageAttribute"); err != nil {
		return nil, err
	}
	if in.MessageSystemAttributes, err = queryMsgAttrs(form, "MessageSystemAttribute"); err != nil {
		return nil, err
	}
	for _, prefix := range []string{"SendMessageBatchRequestEntry", "DeleteMessageBatchRequestEntry", "ChangeMessageVisibilityBatchRequestEntry"} {
		idx := indexes(form, prefix)
		for _, n := range idx {
			p := prefix + "." + n + "."
			e := entry{Id: form.Get(p + "Id"), ReceiptHandle: form.Get(p + "ReceiptHandle"),
				MessageDeduplicationId: form.Get(p + "MessageDeduplicationId"), MessageGroupId: form.Get(p + "MessageGroupId")}
			if vs, ok := form[p+"MessageBody"]; ok {
				s := vs[0]
				e.MessageBody = &s
			}
			if v, ok := form[p+"DelaySeconds"]; ok {
				if e.DelaySeconds, err = parseInt("DelaySeconds", v[0]); err != nil {
					return nil, err
				}
			}
			if v, ok := form[p+"VisibilityTimeout"]; ok {
				if e.VisibilityTimeout, err = parseInt("VisibilityTimeout", v[0]); err != nil {
					return nil, err
				}
			}
			if e.MessageAttributes, err = queryMsgAttrs(form, p+"MessageAttribute"); err != nil {
				return nil, err
			}
			if e.MessageSystemAttributes, err = queryMsgAttrs(form, p+"MessageSystemAttribute"); err != nil {
				return nil, err
			}
			in.Entries = append(in.Entries, e)
		}
	}
	return in, nil
}

// indexes returns the distinct N of parameters "prefix.N.*" in numeric order.
func indexes(form url.Values, prefix string) []string {
	seen := map[string]bool{}
	var out []string
	p := prefix + "."
	for k := range form {
		rest, ok := strings.CutPrefix(k, p)
		if !ok {
			continue
		}
		n, _, ok := strings.Cut(rest, ".")
		if !ok || seen[n] {
			continue
		}
		if _, err := strconv.Atoi(n); err != nil {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i])
		b, _ := strconv.Atoi(out[j])
		return a < b
	})
	return out
}

func indexedMap(form url.Values, prefix, keyName, valueName string) map[string]string {
	idx := indexes(form, prefix)
	if len(idx) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, n := range idx {
		k := form.Get(prefix + "." + n + "." + keyName)
		if k == "" {
			continue
		}
		m[k] = form.Get(prefix + "." + n + "." + valueName)
	}
	return m
}

func indexedList(form url.Values, prefix string) []string {
	var out []string
	type kv struct {
		n int
		v string
	}
	var kvs []kv
	p := prefix + "."
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, p)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			continue
		}
		kvs = append(kvs, kv{n, vs[0]})
	}
	// AttributeName (no index) is accepted too, as some clients send it.
	if vs, ok := form[prefix]; ok {
		kvs = append(kvs, kv{0, vs[0]})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n < kvs[j].n })
	for _, x := range kvs {
		out = append(out, x.v)
	}
	return out
}

func queryMsgAttrs(form url.Values, prefix string) (map[string]msgAttr, error) {
	idx := indexes(form, prefix)
	if len(idx) == 0 {
		return nil, nil
	}
	m := map[string]msgAttr{}
	for _, n := range idx {
		p := prefix + "." + n + "."
		name := form.Get(p + "Name")
		a := msgAttr{DataType: form.Get(p + "Value.DataType")}
		if vs, ok := form[p+"Value.StringValue"]; ok {
			s := vs[0]
			a.StringValue = &s
		}
		if v := form.Get(p + "Value.BinaryValue"); v != "" {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, queue.ErrInvalidParameterValue.With("The binary value of message attribute '%s' is not valid base64.", name)
			}
			a.BinaryValue = b
		}
		m[name] = a
	}
	return m, nil
}
