package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// FuzzDecodeJSON: any body decodes to an input or a 400 error, never a panic.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"QueueName":"q","Attributes":{"DelaySeconds":"5"},"tags":{"a":"b"}}`,
		`{"QueueUrl":"http://h/000000000000/q","MessageBody":"hi","MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAEC"}}}`,
		`{"QueueUrl":"q","Entries":[{"Id":"1","MessageBody":"x","DelaySeconds":3}]}`,
		`{"MaxNumberOfMessages":"ten"}`, `[1,2]`, `{"Entries":[null]}`, `nul`,
	} {
		f.Add([]byte(s))
	}
	for _, s := range fastBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastAgrees(t, b)
		in, err := decodeJSON(b)
		if err != nil {
			if e := toWire(err); e.HTTPStatus() != 400 {
				t.Fatalf("status %d for a bad body", e.HTTPStatus())
			}
			return
		}
		_ = in
	})
}

// FuzzDecodeQuery: any form decodes to an input or a client error.
func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{
		"Action=CreateQueue&QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Tag.1.Key=a&Tag.1.Value=b",
		"Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq&MessageBody=hi&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=AAEC",
		"Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=1&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.DelaySeconds=3",
		"Action=ReceiveMessage&MaxNumberOfMessages=x", "AttributeName.99999999999999999999=x", "MessageAttribute.1.Value.BinaryValue=!!",
		"DeleteMessageBatchRequestEntry.-1.Id=a", "%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		form, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		if _, err := decodeQuery(form); err != nil {
			if e := toWire(err); e.HTTPStatus() != 400 {
				t.Fatalf("status %d for a bad form", e.HTTPStatus())
			}
		}
	})
}

var (
	fuzzOnce sync.Once
	fuzzH    http.Handler
)

// fuzzHandler is one real handler (embedded etcd) shared by fuzz runs.
func fuzzHandler(t testing.TB) http.Handler {
	fuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orch-sqs-fuzz-")
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(context.Background(), store.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		svc := queue.New(st, queue.Options{})
		go svc.Run(context.Background())
		fuzzH = NewHandler(svc, nil, nil)
		for _, n := range []string{"q", "f.fifo"} {
			attrs := map[string]string{}
			if strings.HasSuffix(n, ".fifo") {
				attrs["FifoQueue"] = "true"
			}
			if _, err := svc.CreateQueue(context.Background(), n, attrs, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	return fuzzH
}

// FuzzHandler drives whole requests of both protocols through the handler
// and the queue service: the answer is a well-formed success or a client
// error, never a 5xx or a panic.
func FuzzHandler(f *testing.F) {
	seeds := []struct {
		target, body string
	}{
		{"AmazonSQS.SendMessage", `{"QueueUrl":"/000000000000/q","MessageBody":"hi"}`},
		{"AmazonSQS.SendMessageBatch", `{"QueueUrl":"/000000000000/q","Entries":[{"Id":"a","MessageBody":"x"},{"Id":"b","MessageBody":"y","DelaySeconds":1}]}`},
		{"AmazonSQS.ReceiveMessage", `{"QueueUrl":"/000000000000/q","MaxNumberOfMessages":10,"AttributeNames":["All"],"MessageAttributeNames":["All"]}`},
		{"AmazonSQS.SendMessage", `{"QueueUrl":"/000000000000/f.fifo","MessageBody":"hi","MessageGroupId":"g","MessageDeduplicationId":"d"}`},
		{"AmazonSQS.DeleteMessage", `{"QueueUrl":"/000000000000/q","ReceiptHandle":"eA"}`},
		{"AmazonSQS.CreateQueue", `{"QueueName":"z","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:q\",\"maxReceiveCount\":1}"}}`},
		{"AmazonSQS.GetQueueAttributes", `{"QueueUrl":"/000000000000/q","AttributeNames":["All"]}`},
		{"", "Action=SendMessage&QueueUrl=%2F000000000000%2Fq&MessageBody=hi&MessageAttribute.1.Name=n&MessageAttribute.1.Value.DataType=Number&MessageAttribute.1.Value.StringValue=1e3"},
		{"", "Action=ReceiveMessage&QueueUrl=%2F000000000000%2Fq&AttributeName.1=All&MaxNumberOfMessages=10"},
		{"", "Action=ChangeMessageVisibilityBatch&QueueUrl=%2F000000000000%2Fq&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=x"},
		{"", "Action=ListQueues&MaxResults=1&NextToken=%25"},
	}
	for _, s := range seeds {
		f.Add(s.target, s.body)
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		h := fuzzHandler(t)
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if target != "" {
			if !strings.HasPrefix(target, targetPrefix) {
				target = targetPrefix + target
			}
			r.Header.Set("X-Amz-Target", target)
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		} else {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		// Long polls would stall the fuzzer.
		if strings.Contains(body, "WaitTimeSeconds") {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q %q: %s", w.Code, target, body, w.Body.String())
		}
		if target != "" {
			var v map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("JSON answer does not parse: %v: %s", err, w.Body.String())
			}
		} else if err := xml.Unmarshal(w.Body.Bytes(), new(struct{})); err != nil && !bytes.HasPrefix(w.Body.Bytes(), []byte("<?xml")) {
			t.Fatalf("XML answer does not parse: %v: %s", err, w.Body.String())
		}
	})
}
