package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// Issue 11 review: an action on one's own topic or queue that makes the
// cluster write to another resource (a subscription's queue or function,
// a subscription's dead-letter queue, a move task's destination) needs
// the caller's permission for that write too: otherwise sns:Subscribe on
// one topic reaches every queue and function of the cluster, and
// sqs:StartMessageMoveTask on one dead-letter queue fills any queue.
func TestWritesToAnotherResourceNeedItsPermission(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	agent := testutil.StartHandAgent(t, cp.Agent, "n1", 8192, 16384, nil)
	docs := []wire.ApplyDocument{
		{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "victim"}`)},
		{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "mine-dlq"}`)},
		{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "mine", "Attributes": {"RedrivePolicy": "{\"deadLetterTargetArn\":\"` + model.QueueArn("us-east-1", "mine-dlq") + `\",\"maxReceiveCount\":1}"}}`)},
		{Kind: "Topic", Spec: json.RawMessage(`{"Name": "mine"}`)},
	}
	if _, err := cp.Admin.Apply(ctx, docs); err != nil {
		t.Fatal(err)
	}
	qarn := func(name string) string { return model.QueueArn("us-east-1", name) }
	topic := model.TopicArn("us-east-1", "mine")
	// Every sns and sqs action on its own topic and queues, and sending to
	// queue mine; nothing on victim (queue or function).
	policy := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "sns:*", "Resource": "` + topic + `"},
		{"Effect": "Allow", "Action": "sqs:*", "Resource": ["` + qarn("mine") + `", "` + qarn("mine-dlq") + `"]}]}`
	// Creating event source mappings anywhere, invoking function own only.
	mapper := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping"], "Resource": "*"},
		{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "` + model.FunctionARN("own") + `"},
		{"Effect": "Allow", "Action": "sqs:*", "Resource": "` + qarn("mine") + `"}]}`
	keys := roleKeys(t, cp, agent, map[string]string{"own-only": policy, "mapper": mapper})
	key := keys["own-only"]
	admin := aws.Credentials{AccessKeyID: cp.Bootstrap.AWSAccessKeyID, SecretAccessKey: cp.Bootstrap.AWSSecretAccessKey}

	denied := func(what, service string, f url.Values, code, action, resource string) {
		t.Helper()
		status, got, msg := signedForm(t, cp, key, service, f)
		if status != http.StatusForbidden || got != code || !strings.Contains(msg, " "+action+" on resource: "+resource+" ") {
			t.Errorf("%s: %d %s %q, want 403 %s naming %s on %s", what, status, got, msg, code, action, resource)
		}
	}
	allowed := func(what, service string, f url.Values) {
		t.Helper()
		if status, code, msg := signedForm(t, cp, key, service, f); status != http.StatusOK {
			t.Errorf("%s: %d %s %q, want 200", what, status, code, msg)
		}
	}

	sub := func(protocol, endpoint string) url.Values {
		return url.Values{"Action": {"Subscribe"}, "TopicArn": {topic}, "Protocol": {protocol}, "Endpoint": {endpoint}}
	}
	denied("Subscribe queue victim", "sns", sub("sqs", qarn("victim")), "AuthorizationError", "sqs:SendMessage", qarn("victim"))
	// Spelt with another region, the queue is still victim.
	denied("Subscribe queue victim (other region)", "sns", sub("sqs", strings.Replace(qarn("victim"), "us-east-1", "eu-west-1", 1)),
		"AuthorizationError", "sqs:SendMessage", qarn("victim"))
	fn := model.FunctionARN("victim")
	denied("Subscribe function victim", "sns", sub("lambda", fn), "AuthorizationError", "lambda:InvokeFunction", fn)
	denied("Subscribe function victim (qualified)", "sns", sub("lambda", fn+":$LATEST"), "AuthorizationError", "lambda:InvokeFunction", fn)
	dlq := func(target string) string {
		return `{"deadLetterTargetArn":"` + target + `"}`
	}
	withDLQ := sub("http", "http://127.0.0.1:9/unreachable")
	withDLQ.Set("Attributes.entry.1.key", "RedrivePolicy")
	withDLQ.Set("Attributes.entry.1.value", dlq(qarn("victim")))
	denied("Subscribe with dead-letter queue victim", "sns", withDLQ, "AuthorizationError", "sqs:SendMessage", qarn("victim"))

	// What it may send to, it may subscribe.
	allowed("Subscribe queue mine", "sns", sub("sqs", qarn("mine")))
	withDLQ.Set("Endpoint", "http://127.0.0.1:9/other")
	withDLQ.Set("Attributes.entry.1.value", dlq(qarn("mine")))
	allowed("Subscribe with dead-letter queue mine", "sns", withDLQ)

	// Its own topic's subscription (to queue mine), redriven to victim.
	subArn := subscriptionArn(t, cp, admin, qarn("mine"))
	set := url.Values{"Action": {"SetSubscriptionAttributes"}, "SubscriptionArn": {subArn}, "AttributeName": {"RedrivePolicy"}, "AttributeValue": {dlq(qarn("victim"))}}
	denied("SetSubscriptionAttributes RedrivePolicy to victim", "sns", set, "AuthorizationError", "sqs:SendMessage", qarn("victim"))
	set.Set("AttributeValue", dlq(qarn("mine")))
	allowed("SetSubscriptionAttributes RedrivePolicy to mine", "sns", set)

	// A mapping takes its queue's messages and invokes its function for
	// its creator: both need the creator's permission.
	mapping := func(queue, fn string) string {
		return `{"EventSourceArn": "` + queue + `", "FunctionName": "` + fn + `", "Enabled": false}`
	}
	for _, m := range []struct{ queue, fn, action, resource string }{
		{qarn("victim"), "own", "sqs:ReceiveMessage", qarn("victim")},
		{strings.Replace(qarn("victim"), "us-east-1", "eu-west-1", 1), "own", "sqs:ReceiveMessage", qarn("victim")},
		{qarn("mine"), "victim", "lambda:InvokeFunction", model.FunctionARN("victim")},
		{qarn("mine"), model.FunctionARN("victim") + ":1", "lambda:InvokeFunction", model.FunctionARN("victim")},
	} {
		status, got := signedLambda(t, cp, keys["mapper"], http.MethodPost, "/2015-03-31/event-source-mappings/", mapping(m.queue, m.fn))
		if status != http.StatusForbidden || !strings.HasPrefix(got, "AccessDeniedException") || !strings.Contains(got, " "+m.action+" on resource: "+m.resource+" ") {
			t.Errorf("CreateEventSourceMapping %s -> %s: %d %q, want 403 AccessDeniedException naming %s on %s", m.queue, m.fn, status, got, m.action, m.resource)
		}
	}
	// Allowed both, the call passes the policy check (function own does
	// not exist: 404).
	if status, got := signedLambda(t, cp, keys["mapper"], http.MethodPost, "/2015-03-31/event-source-mappings/", mapping(qarn("mine"), "own")); status != http.StatusNotFound {
		t.Errorf("CreateEventSourceMapping mine -> own, both allowed: %d %q, want 404 (no function own)", status, got)
	}

	move := url.Values{"Action": {"StartMessageMoveTask"}, "SourceArn": {qarn("mine-dlq")}, "DestinationArn": {qarn("victim")}}
	denied("StartMessageMoveTask to victim", "sqs", move, "AccessDenied", "sqs:SendMessage", qarn("victim"))
	move.Set("DestinationArn", strings.Replace(qarn("victim"), "us-east-1", "eu-west-1", 1))
	denied("StartMessageMoveTask to victim (other region)", "sqs", move, "AccessDenied", "sqs:SendMessage", qarn("victim"))
	move.Set("DestinationArn", qarn("mine"))
	allowed("StartMessageMoveTask to mine", "sqs", move)
}

// subscriptionArn is the ARN of topic mine's subscription to endpoint.
func subscriptionArn(t *testing.T, cp *testutil.ControlPlane, admin aws.Credentials, endpoint string) string {
	t.Helper()
	c := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(admin.AccessKeyID, admin.SecretAccessKey, "")})
	out, err := c.ListSubscriptionsByTopic(context.Background(), &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(model.TopicArn("us-east-1", "mine"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out.Subscriptions {
		if aws.ToString(s.Endpoint) == endpoint {
			return aws.ToString(s.SubscriptionArn)
		}
	}
	t.Fatalf("no subscription of topic mine to %s", endpoint)
	return ""
}
