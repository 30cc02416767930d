package function

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

const arn = "arn:aws:sqs:eu-west-1:000000000000:orders"

func batch() []queue.ReceivedMessage {
	return []queue.ReceivedMessage{
		{MessageID: "m1", ReceiptHandle: "rh1", Body: `{"id":"o1","customer":"ana","drink":"latte","price":4}`, MD5OfBody: "x1",
			Attributes:        map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
			MessageAttributes: map[string]model.MessageAttributeValue{"shop": {DataType: "String", StringValue: "north"}, "img": {DataType: "Binary", BinaryValue: []byte{1, 2}}}},
		{MessageID: "m2", ReceiptHandle: "rh2", Body: `not an order`, MD5OfBody: "x2"},
		{MessageID: "m3", ReceiptHandle: "rh3", Body: `{"id":"o3","customer":"bo","drink":"mocha","price":5}`, MD5OfBody: "x3"},
	}
}

func TestSQSEventReadsAsLambdasEvent(t *testing.T) {
	doc, err := SQSEvent(arn, batch())
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(doc, &ev); err != nil {
		t.Fatal(err)
	}
	r := ev.Records[0]
	if len(ev.Records) != 3 || r.MessageId != "m1" || r.ReceiptHandle != "rh1" || r.Md5OfBody != "x1" || r.EventSource != "aws:sqs" ||
		r.EventSourceARN != arn || r.AWSRegion != "eu-west-1" || r.Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("record %+v", r)
	}
	if a := r.MessageAttributes["shop"]; a.DataType != "String" || a.StringValue == nil || *a.StringValue != "north" {
		t.Fatalf("string attribute %+v", a)
	}
	if a := r.MessageAttributes["img"]; a.DataType != "Binary" || !reflect.DeepEqual(a.BinaryValue, []byte{1, 2}) {
		t.Fatalf("binary attribute %+v", a)
	}
	// Lambda sends every key, empty maps included, and these exact names.
	var raw struct{ Records []map[string]json.RawMessage }
	_ = json.Unmarshal(doc, &raw)
	for _, k := range []string{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"} {
		if _, ok := raw.Records[1][k]; !ok {
			t.Errorf("record without %q: %s", k, doc)
		}
	}
}

func TestBatchOutcomeFollowsLambdasRules(t *testing.T) {
	ids := []string{"m1", "m2", "m3"}
	cases := []struct {
		name    string
		payload string
		failed  bool
		report  bool
		want    []bool
		failAll bool
	}{
		{"success deletes all", `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, false, false, []bool{true, true, true}, false},
		{"error keeps all", ``, true, true, []bool{false, false, false}, true},
		{"partial", `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, false, true, []bool{true, false, true}, false},
		{"null response", `null`, false, true, []bool{true, true, true}, false},
		{"empty list", `{"batchItemFailures":[]}`, false, true, []bool{true, true, true}, false},
		// aws-lambda-go's events.SQSEventResponse without failures, and
		// the same documents spaced out (the decoder's path, not the
		// fast one): all complete successes.
		{"null list", `{"batchItemFailures":null}`, false, true, []bool{true, true, true}, false},
		{"null list, newline", "{\"batchItemFailures\":null}\n", false, true, []bool{true, true, true}, false},
		{"spaced empty list", `{ "batchItemFailures" : [ ] }`, false, true, []bool{true, true, true}, false},
		{"empty object, spaced", ` { } `, false, true, []bool{true, true, true}, false},
		{"empty response", ``, false, true, []bool{true, true, true}, false},
		{"other fields beside a null list", `{"batchItemFailures":null,"note":"x"}`, false, true, []bool{true, true, true}, false},
		{"a failure after a null-looking prefix", `{"batchItemFailures":[{"itemIdentifier":"m1"}]}`, false, true, []bool{false, true, true}, false},
		{"invalid JSON", `{"batchItem`, false, true, []bool{false, false, false}, true},
		{"empty identifier", `{"batchItemFailures":[{"itemIdentifier":""}]}`, false, true, []bool{false, false, false}, true},
		{"unknown identifier", `{"batchItemFailures":[{"itemIdentifier":"zz"}]}`, false, true, []bool{false, false, false}, true},
	}
	for _, c := range cases {
		del, reason := BatchOutcome(ids, []byte(c.payload), c.failed, c.report)
		if !reflect.DeepEqual(del, c.want) || (reason != "") != c.failAll {
			t.Errorf("%s: delete %v reason %q, want %v (complete failure %v)", c.name, del, reason, c.want, c.failAll)
		}
	}
}

// The real aws-lambda-go handler reads the event and reports the record
// that is not an order; the outcome deletes the other two.
func TestPartialBatchFailureWithTheRealHandler(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "receipt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/apps/receipt").CombinedOutput(); err != nil {
		t.Fatalf("building the handler: %v\n%s", err, out)
	}
	p := lambdart.NewPool(lambdart.PoolConfig{Launcher: lambdart.ProcessLauncher{}})
	defer p.Close()
	p.Put(lambdart.Function{Name: "receipts", Image: bin, MemoryMiB: 128, Timeout: 5 * time.Second})
	msgs := batch()
	doc, err := SQSEvent(arn, msgs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Invoke(context.Background(), "receipts", "", doc)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MessageID
	}
	del, reason := BatchOutcome(ids, r.Payload, r.FunctionError != "", true)
	if want := []bool{true, false, true}; !reflect.DeepEqual(del, want) || reason != "" {
		t.Fatalf("response %s: delete %v (%s), want %v", r.Payload, del, reason, want)
	}
}

// BenchmarkBatchOutcomeNoFailures: the outcome of a batch of 10 whose
// handler reported no failures as aws-lambda-go marshals it (every batch
// of a healthy queue trigger).
func BenchmarkBatchOutcomeNoFailures(b *testing.B) {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%d", i)
	}
	resp := []byte(`{"batchItemFailures":null}`)
	b.ReportAllocs()
	for b.Loop() {
		if del, reason := BatchOutcome(ids, resp, false, true); reason != "" || !del[9] {
			b.Fatal(reason)
		}
	}
}
