package topic

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orch-project/orch/pkg/model"
)

type fakeFunctions struct {
	mu   sync.Mutex
	arns []string
	evs  [][]byte
}

func (f *fakeFunctions) InvokeEvent(_ context.Context, arn string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arns = append(f.arns, arn)
	f.evs = append(f.evs, payload)
	return nil
}

func (f *fakeFunctions) got() ([]string, [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.arns...), append([][]byte(nil), f.evs...)
}

// TestLambdaSubscriptionDeliversTheSNSEvent: a lambda subscription
// receives the SNS event exactly as Lambda sends it (read back with
// aws-lambda-go's events.SNSEvent): EventSource aws:sns, EventVersion,
// EventSubscriptionArn and a signed Sns record with SigningCertUrl,
// UnsubscribeUrl and the message attributes; Subject is null when unset.
func TestLambdaSubscriptionDeliversTheSNSEvent(t *testing.T) {
	fns := &fakeFunctions{}
	e := newEnv(t)
	e.stop()
	e.fns = fns
	e.start()
	ctx := context.Background()
	topicArn := e.topic("receipts", nil)
	fnArn := model.FunctionARN("receipt")
	subArn, _, err := e.s.Subscribe(ctx, SubscribeInput{TopicArn: topicArn, Protocol: "lambda", Endpoint: fnArn})
	if err != nil {
		t.Fatal(err)
	}
	r := e.publish(topicArn, PublishInput{Message: `{"order":7}`, Subject: "order",
		Attributes: map[string]model.MessageAttributeValue{"size": {DataType: "String", StringValue: "large"}}})
	e.publish(topicArn, PublishInput{Message: "no subject"})
	eventually(t, "both messages reach the function", func() bool { _, evs := fns.got(); return len(evs) == 2 })
	arns, evs := fns.got()
	if strings.Contains(string(evs[0]), "no subject") { // deliveries may overtake each other
		evs[0], evs[1] = evs[1], evs[0]
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(evs[0], &ev); err != nil {
		t.Fatal(err)
	}
	if arns[0] != fnArn || len(ev.Records) != 1 {
		t.Fatalf("invoked %s with %d records, want %s with 1", arns[0], len(ev.Records), fnArn)
	}
	rec := ev.Records[0]
	if rec.EventSource != "aws:sns" || rec.EventVersion != "1.0" || rec.EventSubscriptionArn != subArn {
		t.Fatalf("record = %+v, want aws:sns 1.0 %s", rec, subArn)
	}
	sns := rec.SNS
	if sns.Type != "Notification" || sns.MessageID != r.MessageID || sns.TopicArn != topicArn || sns.Subject != "order" ||
		sns.Message != `{"order":7}` || sns.SignatureVersion != "1" || sns.Signature == "" ||
		!strings.HasSuffix(sns.SigningCertURL, ".pem") || !strings.Contains(sns.UnsubscribeURL, "Action=Unsubscribe") ||
		sns.Timestamp.IsZero() {
		t.Fatalf("Sns = %+v", sns)
	}
	if a, _ := sns.MessageAttributes["size"].(map[string]any); a["Type"] != "String" || a["Value"] != "large" {
		t.Fatalf("MessageAttributes = %v, want size {Type String, Value large}", sns.MessageAttributes)
	}
	// The signature verifies with the documented string to sign.
	var raw struct {
		Records []struct {
			Sns map[string]any `json:"Sns"`
		}
	}
	if err := json.Unmarshal(evs[0], &raw); err != nil {
		t.Fatal(err)
	}
	env := raw.Records[0].Sns
	env["SigningCertURL"] = env["SigningCertUrl"]
	checkSignature(t, e.s, env)
	// Lambda's names, not the envelope's, and Subject null when unset.
	var raw2 struct {
		Records []struct {
			Sns map[string]any `json:"Sns"`
		}
	}
	if err := json.Unmarshal(evs[1], &raw2); err != nil {
		t.Fatal(err)
	}
	second := raw2.Records[0].Sns
	if v, ok := second["Subject"]; !ok || v != nil {
		t.Fatalf("Subject = %v (present %v), want null", v, ok)
	}
	if _, ok := second["SigningCertURL"]; ok {
		t.Fatal("the record uses the envelope's SigningCertURL; Lambda's is SigningCertUrl")
	}
	if m, ok := second["MessageAttributes"].(map[string]any); !ok || len(m) != 0 {
		t.Fatalf("MessageAttributes = %v, want {}", second["MessageAttributes"])
	}
}
