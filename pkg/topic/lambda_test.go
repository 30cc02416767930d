package topic

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// recordingFunctions is a FunctionInvoker that records its invocations.
type recordingFunctions struct {
	mu    sync.Mutex
	calls map[string][][]byte
}

func (f *recordingFunctions) InvokeEvent(_ context.Context, arn string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[arn] = append(f.calls[arn], payload)
	return nil
}

func (f *recordingFunctions) got(arn string) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[arn]
}

const greetArn = "arn:aws:lambda:us-east-1:000000000000:function:greet"

// TestLambdaNeedsAFunctionInvoker: without functions, Subscribe refuses
// protocol lambda with InvalidParameter saying why.
func TestLambdaNeedsAFunctionInvoker(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-lambda-none", nil)
	_, _, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: arn, Protocol: "lambda", Endpoint: greetArn})
	if KindOf(err) != KindInvalidParameter || !strings.Contains(err.Error(), "lambda subscriptions need functions") {
		t.Fatalf("Subscribe(lambda) = %v, want InvalidParameter saying functions are needed", err)
	}
}

// TestLambdaThroughTheFunctionInvoker: with a FunctionInvoker, a lambda
// subscription is confirmed at once and each message is one Event
// invocation carrying SNS's event.
func TestLambdaThroughTheFunctionInvoker(t *testing.T) {
	e := newEnv(t)
	fns := &recordingFunctions{calls: map[string][][]byte{}}
	e.stop()
	e.functions = fns
	e.start()
	arn := e.topic("t-lambda", nil)
	subArn, pending, err := e.s.Subscribe(context.Background(), SubscribeInput{TopicArn: arn, Protocol: "lambda", Endpoint: greetArn})
	if err != nil || pending {
		t.Fatalf("Subscribe(lambda) = %v pending %v, want a confirmed subscription", err, pending)
	}
	e.publish(arn, PublishInput{Message: "hello", Subject: "hi"})
	eventually(t, "the function was invoked", func() bool { return len(fns.got(greetArn)) == 1 })
	var ev struct {
		Records []struct {
			EventSource, EventSubscriptionArn string
			Sns                               struct{ Type, Message, Subject, TopicArn string }
		}
	}
	if err := json.Unmarshal(fns.got(greetArn)[0], &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("payload %s: %v", fns.got(greetArn)[0], err)
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sns" || r.EventSubscriptionArn != subArn || r.Sns.Type != "Notification" || r.Sns.Message != "hello" || r.Sns.Subject != "hi" || r.Sns.TopicArn != arn {
		t.Fatalf("event record = %+v", r)
	}
}
