package function

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/orch-project/orch/internal/jsonstr"
	"slices"
	"strings"

	"github.com/orch-project/orch/pkg/queue"
)

// SQSEvent returns the event document for a batch received from the queue
// queueARN ("arn:aws:sqs:REGION:ACCOUNT:NAME"): {"Records":[...]}, each
// record field for field as Lambda sends it (and as aws-lambda-go's
// events.SQSMessage reads it). It is written by hand rather than with
// json.Marshal because it is built for every batch a queue trigger runs:
// reflection and the intermediate maps were about a tenth of the server's
// CPU per batch. The bytes are the same as json.Marshal's (map keys in
// order, the same escaping), which the tests check against it.
func SQSEvent(queueARN string, msgs []queue.ReceivedMessage) ([]byte, error) {
	region := ""
	if parts := strings.Split(queueARN, ":"); len(parts) == 6 {
		region = parts[3]
	}
	size := 16
	for _, m := range msgs {
		size += 256 + len(queueARN) + len(m.MessageID) + len(m.ReceiptHandle) + len(m.Body) + len(m.MD5OfBody) + len(m.MD5OfMessageAttributes)
		for k, v := range m.Attributes {
			size += len(k) + len(v) + 8
		}
		for k, v := range m.MessageAttributes {
			size += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)*4/3 + 80
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"Records":[`...)
	var keys []string
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"messageId":`...)
		b = jsonstr.Append(b, m.MessageID)
		b = append(b, `,"receiptHandle":`...)
		b = jsonstr.Append(b, m.ReceiptHandle)
		b = append(b, `,"body":`...)
		b = jsonstr.Append(b, m.Body)
		b = append(b, `,"attributes":{`...)
		keys = sortedKeys(keys[:0], m.Attributes)
		for j, k := range keys {
			if j > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			b = jsonstr.Append(b, m.Attributes[k])
		}
		b = append(b, `},"messageAttributes":{`...)
		keys = sortedKeys(keys[:0], m.MessageAttributes)
		for j, k := range keys {
			if j > 0 {
				b = append(b, ',')
			}
			v := m.MessageAttributes[k]
			b = jsonstr.Append(b, k)
			if v.IsBinary() {
				b = append(b, `:{"binaryValue":"`...)
				b = base64.StdEncoding.AppendEncode(b, v.BinaryValue)
				b = append(b, '"')
			} else {
				b = append(b, `:{"stringValue":`...)
				b = jsonstr.Append(b, v.StringValue)
			}
			b = append(b, `,"stringListValues":[],"binaryListValues":[],"dataType":`...)
			b = jsonstr.Append(b, v.DataType)
			b = append(b, '}')
		}
		b = append(b, `},"md5OfBody":`...)
		b = jsonstr.Append(b, m.MD5OfBody)
		if m.MD5OfMessageAttributes != "" {
			b = append(b, `,"md5OfMessageAttributes":`...)
			b = jsonstr.Append(b, m.MD5OfMessageAttributes)
		}
		b = append(b, `,"eventSource":"aws:sqs","eventSourceARN":`...)
		b = jsonstr.Append(b, queueARN)
		b = append(b, `,"awsRegion":`...)
		b = jsonstr.Append(b, region)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// noFailures reports whether a batch response (trimmed) is one of the
// complete successes handlers send on every batch: empty, null, {}, or an
// empty or null list as aws-lambda-go's events.SQSEventResponse marshals
// it. Those skip the JSON decoder, which was most of BatchOutcome's CPU
// on a queue trigger's path; anything else is decoded as before.
func noFailures(p []byte) bool {
	switch string(p) {
	case "", "null", "{}", `{"batchItemFailures":null}`, `{"batchItemFailures":[]}`:
		return true
	}
	return false
}

// BatchOutcome says which messages of a batch to delete after the function
// ran: Delete[i] is true for the i-th message. failed is the function's
// error state (an error, a panic, a timeout: the whole batch stays, to
// reappear after the visibility timeout). With ReportBatchItemFailures the
// response lists the failures, read by Lambda's rules: an empty or null
// response or list is a complete success; invalid JSON, an empty or null
// itemIdentifier, or one naming no message of the batch is a complete
// failure (reason says which).
func BatchOutcome(ids []string, payload []byte, failed, reportFailures bool) (del []bool, reason string) {
	del = make([]bool, len(ids))
	if failed {
		return del, "the function failed"
	}
	all := func() []bool {
		for i := range del {
			del[i] = true
		}
		return del
	}
	if !reportFailures {
		return all(), ""
	}
	p := bytes.TrimSpace(payload)
	if noFailures(p) {
		return all(), ""
	}
	var resp struct {
		BatchItemFailures []map[string]*string `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		return del, "the response is not a valid batch response: " + err.Error()
	}
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	all()
	for _, f := range resp.BatchItemFailures {
		id, ok := f["itemIdentifier"]
		if !ok || id == nil || *id == "" {
			return make([]bool, len(ids)), "a batchItemFailures entry has no itemIdentifier"
		}
		i, ok := index[*id]
		if !ok {
			return make([]bool, len(ids)), "itemIdentifier " + *id + " is not a message of the batch"
		}
		del[i] = false
	}
	return del, ""
}
