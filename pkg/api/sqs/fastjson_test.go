package sqs

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastBodies are bodies as the SDKs send them for the hot actions, and
// near misses the fast path must leave to encoding/json.
var fastBodies = []string{
	`{"QueueUrl":"http://127.0.0.1:8080/000000000000/q","MessageBody":"hello"}`,
	`{"MessageBody":"héllo ✓","QueueUrl":"q","DelaySeconds":5,"MessageGroupId":"g","MessageDeduplicationId":"d"}`,
	`{"QueueUrl":"q","MaxNumberOfMessages":10,"WaitTimeSeconds":20,"VisibilityTimeout":30,"AttributeNames":["All"],"MessageAttributeNames":["All"],"MessageSystemAttributeNames":[]}`,
	`{"QueueUrl":"q","ReceiptHandle":"abc=="}`,
	`{"QueueUrl":"q","Entries":[{"Id":"0","MessageBody":"a"},{"Id":"1","MessageBody":"b","DelaySeconds":0}]}`,
	`{"QueueUrl":"q","Entries":[{"Id":"0","ReceiptHandle":"r0"},{"Id":"1","ReceiptHandle":"r1","VisibilityTimeout":-1}]}`,
	`{"QueueUrl":"q","Entries":[]}`,
	` { "QueueUrl" : "q" ,
	  "MaxNumberOfMessages" : 1 } `,
	`{}`,
	// Left to encoding/json:
	`{"queueurl":"q"}`,                  // another case
	`{"QueueUrl":"q","QueueUrl":"r"}`,   // a key twice
	`{"MessageBody":"a\"b"}`,            // an escape
	`{"MessageBody":"a` + "\xff" + `"}`, // invalid UTF-8
	`{"MessageBody":"a` + "\x01" + `"}`, // a control character
	`{"MessageBody":null}`,              // null
	`{"DelaySeconds":1.0}`, `{"DelaySeconds":1e1}`, `{"DelaySeconds":01}`, `{"DelaySeconds":-}`,
	`{"DelaySeconds":99999999999999999999}`,
	`{"QueueUrl":"q"} x`, `{"QueueUrl":"q",}`, `{"QueueUrl":"q"`, `{"QueueUrl"}`,
	`{"Entries":[{"Id":"0","Id":"1"}]}`, `{"Entries":[{"Id":"0"},]}`, `{"Entries":[null]}`,
	`{"Entries":[{"Id":"0","MessageAttributes":{}}]}`,
	`{"Attributes":{"DelaySeconds":"5"}}`, `{"AttributeNames":["All",1]}`,
}

// TestDecodeJSONFastAgrees: whatever the fast path accepts decodes exactly
// as encoding/json decodes it, and the SDKs' bodies take the fast path.
func TestDecodeJSONFastAgrees(t *testing.T) {
	for i, b := range fastBodies {
		checkFastAgrees(t, []byte(b))
		if _, ok := decodeJSONFast([]byte(b)); ok != (i < 9) {
			t.Errorf("fast path took %q: %v, want %v", b, ok, i < 9)
		}
	}
}

func checkFastAgrees(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := decodeJSONFast(b)
	if !ok {
		return
	}
	var slow input
	if err := json.Unmarshal(b, &slow); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json says %v", b, err)
	}
	if !reflect.DeepEqual(fast, &slow) {
		t.Fatalf("%q: fast path decoded %+v, encoding/json %+v", b, *fast, slow)
	}
}

// BenchmarkDecodeJSON: a SendMessage body, fast path and encoding/json.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(fastBodies[0])
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeJSONFast(body); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("decodeJSON", func(b *testing.B) { // what the handler calls: the fast path and nothing more
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in input
			if err := json.Unmarshal(body, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAppendJSONAgrees: the hand-written answers are json.Marshal's bytes.
func TestAppendJSONAgrees(t *testing.T) {
	odd := "a\"b\\c<d>&e\n\x01é\u2028\xff"
	outs := []output{
		emptyOut{},
		&sendOut{MessageId: "m", MD5OfMessageBody: "5d41402abc4b2a76b9719d911017c592"},
		&sendOut{Id: "1", MessageId: odd, MD5OfMessageBody: "x", MD5OfMessageAttributes: "a", MD5OfMessageSystemAttributes: "s", SequenceNumber: "7"},
		&sendBatchOut{}, &sendBatchOut{Successful: []sendOut{}, Failed: []batchFail{}},
		&sendBatchOut{Successful: []sendOut{{Id: "0", MessageId: "m0", MD5OfMessageBody: "x"}, {Id: "1", MessageId: "m1", MD5OfMessageBody: "y"}},
			Failed: []batchFail{{Id: "2", SenderFault: true, Code: "InvalidParameterValue", Message: odd}, {Id: "3", Code: "InternalError"}}},
		&idBatchOut{}, &idBatchOut{Successful: []batchID{{Id: "0"}, {Id: odd}}, Failed: []batchFail{{Id: "x", Code: "ReceiptHandleIsInvalid"}}},
		&receiveOut{}, &receiveOut{Messages: []outMessage{}},
		&receiveOut{Messages: []outMessage{{MessageId: "m", ReceiptHandle: "r+/=", MD5OfBody: "x", Body: odd},
			{MessageId: "n", ReceiptHandle: "s", MD5OfBody: "y", Body: "", MD5OfMessageAttributes: "z"}}},
	}
	for _, o := range outs {
		got, ok := appendJSON(nil, o)
		if !ok {
			t.Fatalf("%#v: not written by the fast path", o)
		}
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%#v:\n got %s\nwant %s", o, got, want)
		}
	}
	withAttrs := &receiveOut{Messages: []outMessage{{MessageId: "m", Attributes: map[string]string{"SentTimestamp": "1"}}}}
	if _, ok := appendJSON(nil, withAttrs); ok {
		t.Error("a message with attributes took the fast path")
	}
	if _, ok := appendJSON(nil, &queueURLOut{QueueUrl: "u"}); ok {
		t.Error("queueURLOut took the fast path")
	}
}
