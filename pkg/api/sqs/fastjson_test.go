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
