package function

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/orch-project/orch/pkg/queue"
)

// sqsRecord is one record of the SQS event, field for field as Lambda
// sends it (and as aws-lambda-go's events.SQSMessage reads it).
type sqsRecord struct {
	MessageID              string                     `json:"messageId"`
	ReceiptHandle          string                     `json:"receiptHandle"`
	Body                   string                     `json:"body"`
	Attributes             map[string]string          `json:"attributes"`
	MessageAttributes      map[string]sqsAttributeOut `json:"messageAttributes"`
	MD5OfBody              string                     `json:"md5OfBody"`
	MD5OfMessageAttributes string                     `json:"md5OfMessageAttributes,omitempty"`
	EventSource            string                     `json:"eventSource"`
	EventSourceARN         string                     `json:"eventSourceARN"`
	AWSRegion              string                     `json:"awsRegion"`
}

type sqsAttributeOut struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      *string  `json:"binaryValue,omitempty"` // base64
	StringListValues []string `json:"stringListValues"`
	BinaryListValues []string `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// SQSEvent returns the event document for a batch received from the queue
// queueARN ("arn:aws:sqs:REGION:ACCOUNT:NAME"): {"Records":[...]}.
func SQSEvent(queueARN string, msgs []queue.ReceivedMessage) ([]byte, error) {
	region := ""
	if parts := strings.Split(queueARN, ":"); len(parts) == 6 {
		region = parts[3]
	}
	recs := make([]sqsRecord, len(msgs))
	for i, m := range msgs {
		attrs := make(map[string]sqsAttributeOut, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			a := sqsAttributeOut{DataType: v.DataType, StringListValues: []string{}, BinaryListValues: []string{}}
			if v.IsBinary() {
				b := base64.StdEncoding.EncodeToString(v.BinaryValue)
				a.BinaryValue = &b
			} else {
				s := v.StringValue
				a.StringValue = &s
			}
			attrs[k] = a
		}
		sys := m.Attributes
		if sys == nil {
			sys = map[string]string{}
		}
		recs[i] = sqsRecord{
			MessageID: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
			Attributes: sys, MessageAttributes: attrs, MD5OfBody: m.MD5OfBody,
			MD5OfMessageAttributes: m.MD5OfMessageAttributes,
			EventSource:            "aws:sqs", EventSourceARN: queueARN, AWSRegion: region,
		}
	}
	return json.Marshal(struct {
		Records []sqsRecord `json:"Records"`
	}{recs})
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
	p := strings.TrimSpace(string(payload))
	if p == "" || p == "null" || p == "{}" {
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
