package function

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// The reflective encoding SQSEvent had before it was written by hand: the
// hand-written one must produce the very same bytes.

type refRecord struct {
	MessageID              string                     `json:"messageId"`
	ReceiptHandle          string                     `json:"receiptHandle"`
	Body                   string                     `json:"body"`
	Attributes             map[string]string          `json:"attributes"`
	MessageAttributes      map[string]refAttributeOut `json:"messageAttributes"`
	MD5OfBody              string                     `json:"md5OfBody"`
	MD5OfMessageAttributes string                     `json:"md5OfMessageAttributes,omitempty"`
	EventSource            string                     `json:"eventSource"`
	EventSourceARN         string                     `json:"eventSourceARN"`
	AWSRegion              string                     `json:"awsRegion"`
}

type refAttributeOut struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      *string  `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues []string `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

func refSQSEvent(queueARN string, msgs []queue.ReceivedMessage) []byte {
	region := ""
	if parts := strings.Split(queueARN, ":"); len(parts) == 6 {
		region = parts[3]
	}
	recs := make([]refRecord, len(msgs))
	for i, m := range msgs {
		attrs := make(map[string]refAttributeOut, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			a := refAttributeOut{DataType: v.DataType, StringListValues: []string{}, BinaryListValues: []string{}}
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
		recs[i] = refRecord{MessageID: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Attributes: sys,
			MessageAttributes: attrs, MD5OfBody: m.MD5OfBody, MD5OfMessageAttributes: m.MD5OfMessageAttributes,
			EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: region}
	}
	out, _ := json.Marshal(struct {
		Records []refRecord `json:"Records"`
	}{recs})
	return out
}

// awkward strings: every escape encoding/json makes.
var awkward = []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\x7f \b\f\n\r\t", "html <a href='x'>&amp;</a>",
	"utf-8 é ü 日本 😀", "bad \xff\xfe utf-8 \xe2\x82", "line sep \u2028 para sep \u2029", strings.Repeat("x", 3000)}

func TestSQSEventBytesAreJSONMarshals(t *testing.T) {
	var msgs []queue.ReceivedMessage
	for i, s := range awkward {
		m := queue.ReceivedMessage{MessageID: "m" + s, ReceiptHandle: "rh" + s, Body: s, MD5OfBody: s,
			Attributes: map[string]string{"SentTimestamp": "1", "a" + s: s, "ApproximateReceiveCount": s}}
		if i%2 == 0 {
			m.MD5OfMessageAttributes = "md5" + s
			m.MessageAttributes = map[string]model.MessageAttributeValue{
				"z" + s: {DataType: "String", StringValue: s}, "bin": {DataType: "Binary.png", BinaryValue: []byte(s)},
				"n": {DataType: "Number", StringValue: "42"}}
		}
		msgs = append(msgs, m)
	}
	for _, queueARN := range []string{arn, "arn:aws:sqs:us-east-1:000000000000:" + awkward[4], "not-an-arn"} {
		for k := 0; k <= len(msgs); k++ {
			got, err := SQSEvent(queueARN, msgs[:k])
			if err != nil {
				t.Fatal(err)
			}
			if want := refSQSEvent(queueARN, msgs[:k]); !bytes.Equal(got, want) {
				t.Fatalf("%d records from %s:\n got %s\nwant %s", k, queueARN, got, want)
			}
		}
	}
	if got, want := mustSQSEvent(t, arn, batch()), refSQSEvent(arn, batch()); !bytes.Equal(got, want) {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func mustSQSEvent(t testing.TB, queueARN string, msgs []queue.ReceivedMessage) []byte {
	doc, err := SQSEvent(queueARN, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func FuzzSQSEventMatchesJSONMarshal(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, "String")
	}
	f.Fuzz(func(t *testing.T, body, attr, dataType string) {
		msgs := []queue.ReceivedMessage{{MessageID: attr, ReceiptHandle: body, Body: body, MD5OfBody: attr,
			Attributes:        map[string]string{attr: body, body: attr},
			MessageAttributes: map[string]model.MessageAttributeValue{attr: {DataType: dataType, StringValue: body, BinaryValue: []byte(attr)}}}}
		got := mustSQSEvent(t, arn, msgs)
		if want := refSQSEvent(arn, msgs); !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkSQSEvent: a batch of ten orders as the queue trigger builds it,
// by hand and (for comparison) with json.Marshal.
func BenchmarkSQSEvent(b *testing.B) {
	var msgs []queue.ReceivedMessage
	for i := range 10 {
		msgs = append(msgs, queue.ReceivedMessage{MessageID: NewRequestID(), ReceiptHandle: strings.Repeat("h", 120), MD5OfBody: strings.Repeat("d", 32),
			Body:       `{"id":"o` + string(rune('0'+i)) + `","customer":"c","drink":"latte","price":3}`,
			Attributes: map[string]string{"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": "1700000000001", "SenderId": "admin"}})
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = mustSQSEvent(b, arn, msgs)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = refSQSEvent(arn, msgs)
		}
	})
}
