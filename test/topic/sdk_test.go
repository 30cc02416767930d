package topic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

type queueRef struct{ url, arn string }

func createQueue(t *testing.T, ctx context.Context, q *awssqs.Client, name string, attrs map[string]string) queueRef {
	t.Helper()
	out, err := q.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return queueRef{url: *out.QueueUrl, arn: "arn:aws:sqs:us-east-1:000000000000:" + name}
}

// receiveVisibility is how long a message received by receive stays in
// flight. It is short on purpose: aws-sdk-go-v2 retries a ReceiveMessage
// whose response it could not read (net/http may close the connection
// under the response, aws/aws-sdk-go-v2#2737; the SDK retries
// net.ErrClosed since #2949), and the messages handed out in the lost
// response stay in flight for the visibility timeout, as in SQS. With the
// queue's default 30 s they missed receive's 10 s window (the
// TestSDKActions flake: fan-b got none of a batch, all 10 in flight);
// with 3 s they come back in time.
const receiveVisibility = 3

// receiveInput is what receive asks for on each poll.
func receiveInput(url string) *awssqs.ReceiveMessageInput {
	return &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		WaitTimeSeconds: 1, VisibilityTimeout: receiveVisibility, MessageAttributeNames: []string{"All"}}
}

// receive polls a queue until it has n distinct messages or the deadline
// passes, deleting what it receives. A message seen twice (back after a
// lost response or a slow delete) counts once.
func receive(t *testing.T, ctx context.Context, q *awssqs.Client, url string, n int, within time.Duration) []sqstypes.Message {
	t.Helper()
	var got []sqstypes.Message
	seen := map[string]bool{}
	deadline := time.Now().Add(within)
	for len(got) < n && time.Now().Before(deadline) {
		out, err := q.ReceiveMessage(ctx, receiveInput(url))
		if err != nil {
			t.Fatalf("ReceiveMessage %s: %v", url, err)
		}
		for _, m := range out.Messages {
			if !seen[*m.MessageId] {
				seen[*m.MessageId] = true
				got = append(got, m)
			}
			if _, err := q.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func expectCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if errCode(err) != code {
		t.Errorf("%s: got %v, want error code %s", what, err, code)
	}
}

type envelope struct {
	Type, MessageId, TopicArn, Subject, Message, Timestamp, UnsubscribeURL, SequenceNumber string
	MessageAttributes                                                                      map[string]struct{ Type, Value string }
}

// TestSDKActions drives every SNS action with aws-sdk-go-v2 against a
// real `orch server`: fan-out to three queues (envelope and raw), FIFO
// order into a FIFO queue, dead-lettering after retries, SNS's errors.
func TestSDKActions(t *testing.T) {
	srv := startServer(t, t.TempDir(), freeAddr(t))
	ctx := ctxT(t, 2*time.Minute)
	sn, sq := srv.sns(), srv.sqs()

	// Topics: create (idempotent), list, attributes, tags.
	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("news"),
		Attributes: map[string]string{"DisplayName": "News"}, Tags: []snstypes.Tag{{Key: aws.String("team"), Value: aws.String("shop")}}})
	if err != nil {
		t.Fatal(err)
	}
	topicArn := *ct.TopicArn
	if topicArn != "arn:aws:sns:us-east-1:000000000000:news" {
		t.Fatalf("TopicArn %s", topicArn)
	}
	if again, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("news"), Attributes: map[string]string{"DisplayName": "News"}}); err != nil || *again.TopicArn != topicArn {
		t.Fatalf("CreateTopic again: %v %v", again, err)
	}
	_, err = sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("news"), Attributes: map[string]string{"DisplayName": "Other"}})
	expectCode(t, "CreateTopic with other attributes", err, "InvalidParameter")
	_, err = sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("no spaces")})
	expectCode(t, "CreateTopic bad name", err, "InvalidParameter")
	lt, err := sn.ListTopics(ctx, &awssns.ListTopicsInput{})
	if err != nil || len(lt.Topics) != 1 || *lt.Topics[0].TopicArn != topicArn {
		t.Fatalf("ListTopics: %v %v", lt, err)
	}
	if _, err := sn.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topicArn, AttributeName: aws.String("DisplayName"), AttributeValue: aws.String("Coffee news")}); err != nil {
		t.Fatal(err)
	}
	ga, err := sn.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &topicArn})
	if err != nil || ga.Attributes["DisplayName"] != "Coffee news" || ga.Attributes["TopicArn"] != topicArn || ga.Attributes["Owner"] != "000000000000" {
		t.Fatalf("GetTopicAttributes: %v %v", ga, err)
	}
	_, err = sn.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:nope")})
	var nf *snstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("GetTopicAttributes of a missing topic: %v, want NotFoundException", err)
	}
	if _, err := sn.TagResource(ctx, &awssns.TagResourceInput{ResourceArn: &topicArn, Tags: []snstypes.Tag{{Key: aws.String("tier"), Value: aws.String("gold")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.UntagResource(ctx, &awssns.UntagResourceInput{ResourceArn: &topicArn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := sn.ListTagsForResource(ctx, &awssns.ListTagsForResourceInput{ResourceArn: &topicArn})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Key != "tier" || *tags.Tags[0].Value != "gold" {
		t.Fatalf("ListTagsForResource: %v %v", tags, err)
	}

	// Subscriptions: three queues, one raw.
	qa := createQueue(t, ctx, sq, "fan-a", nil)
	qb := createQueue(t, ctx, sq, "fan-b", nil)
	qr := createQueue(t, ctx, sq, "fan-raw", nil)
	var subArns []string
	for _, q := range []queueRef{qa, qb, qr} {
		in := &awssns.SubscribeInput{TopicArn: &topicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn)}
		if q == qr {
			in.Attributes = map[string]string{"RawMessageDelivery": "true"}
		}
		out, err := sn.Subscribe(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		subArns = append(subArns, *out.SubscriptionArn)
	}
	if !strings.HasPrefix(subArns[0], topicArn+":") {
		t.Fatalf("SubscriptionArn %s", subArns[0])
	}
	_, err = sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topicArn, Protocol: aws.String("carrier-pigeon"), Endpoint: aws.String("x")})
	expectCode(t, "Subscribe with an unknown protocol", err, "InvalidParameter")
	ls, err := sn.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
	if err != nil || len(ls.Subscriptions) != 3 {
		t.Fatalf("ListSubscriptions: %v %v", ls, err)
	}
	lbt, err := sn.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: &topicArn})
	if err != nil || len(lbt.Subscriptions) != 3 || *lbt.Subscriptions[2].Endpoint != qr.arn {
		t.Fatalf("ListSubscriptionsByTopic: %v %v", lbt, err)
	}
	gs, err := sn.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &subArns[2]})
	if err != nil || gs.Attributes["RawMessageDelivery"] != "true" || gs.Attributes["Protocol"] != "sqs" || gs.Attributes["PendingConfirmation"] != "false" {
		t.Fatalf("GetSubscriptionAttributes: %v %v", gs, err)
	}

	// Publish fans out: envelope to a and b, the bare message to raw.
	attrs := map[string]snstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("coupon")}}
	pub, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: &topicArn, Message: aws.String("50% off <today>"), Subject: aws.String("deal"), MessageAttributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []queueRef{qa, qb} {
		ms := receive(t, ctx, sq, q.url, 1, 10*time.Second)
		if len(ms) != 1 {
			t.Fatalf("%s received %d messages, want 1", q.url, len(ms))
		}
		var env envelope
		if err := json.Unmarshal([]byte(*ms[0].Body), &env); err != nil {
			t.Fatalf("envelope: %v in %s", err, *ms[0].Body)
		}
		if env.Type != "Notification" || env.MessageId != *pub.MessageId || env.TopicArn != topicArn || env.Subject != "deal" ||
			env.Message != "50% off <today>" || env.MessageAttributes["kind"].Value != "coupon" || env.UnsubscribeURL == "" {
			t.Errorf("envelope: %+v", env)
		}
		if _, err := time.Parse(time.RFC3339Nano, env.Timestamp); err != nil {
			t.Errorf("Timestamp %q: %v", env.Timestamp, err)
		}
	}
	raw := receive(t, ctx, sq, qr.url, 1, 10*time.Second)
	if len(raw) != 1 || *raw[0].Body != "50% off <today>" || *raw[0].MessageAttributes["kind"].StringValue != "coupon" {
		t.Fatalf("raw delivery: %+v", raw)
	}

	// PublishBatch: ten entries; eleven fail as a whole.
	var entries []snstypes.PublishBatchRequestEntry
	for i := range 10 {
		entries = append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), Message: aws.String(fmt.Sprint("batch-", i))})
	}
	pb, err := sn.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: &topicArn, PublishBatchRequestEntries: entries})
	if err != nil || len(pb.Successful) != 10 || len(pb.Failed) != 0 {
		t.Fatalf("PublishBatch: %v %v", pb, err)
	}
	for _, q := range []queueRef{qa, qb, qr} {
		if got := receive(t, ctx, sq, q.url, 10, 10*time.Second); len(got) != 10 {
			// Say whether the messages are in the queue (a receive
			// problem) or never arrived (a delivery problem).
			a, _ := sq.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url), AttributeNames: []sqstypes.QueueAttributeName{"All"}})
			var counts map[string]string
			if a != nil {
				counts = a.Attributes
			}
			t.Fatalf("%s got %d of the batch's 10; queue attributes now %v", q.url, len(got), counts)
		}
	}
	_, err = sn.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: &topicArn, PublishBatchRequestEntries: append(entries, snstypes.PublishBatchRequestEntry{Id: aws.String("e10"), Message: aws.String("x")})})
	var tooMany *snstypes.TooManyEntriesInBatchRequestException
	if !errors.As(err, &tooMany) {
		t.Errorf("11 batch entries: %v", err)
	}
	_, err = sn.Publish(ctx, &awssns.PublishInput{TopicArn: &topicArn, Message: aws.String(strings.Repeat("x", 256*1024+1))})
	expectCode(t, "Publish over 256 KiB", err, "InvalidParameter")
	_, err = sn.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:nope"), Message: aws.String("x")})
	expectCode(t, "Publish to a missing topic", err, "NotFound")
	_, err = sn.Publish(ctx, &awssns.PublishInput{TopicArn: &topicArn, Message: aws.String("x"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"n": {DataType: aws.String("Decimal"), StringValue: aws.String("1")}}})
	expectCode(t, "Publish with a bad attribute type", err, "ParameterValueInvalid")

	// SetSubscriptionAttributes, Unsubscribe.
	if _, err := sn.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: &subArns[1], AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: &subArns[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: &topicArn, Message: aws.String("after")}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ctx, sq, qb.url, 1, 10*time.Second); len(got) != 1 || *got[0].Body != "after" {
		t.Errorf("fan-b after switching to raw: %d messages, want the bare %q", len(got), "after")
	}
	if got := receive(t, ctx, sq, qa.url, 1, 2*time.Second); len(got) != 0 {
		t.Errorf("fan-a received %d messages after Unsubscribe", len(got))
	}

	// ConfirmSubscription: an https subscription waits for its token.
	hs, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topicArn, Protocol: aws.String("https"), Endpoint: aws.String("https://127.0.0.1:1/hook")})
	if err != nil || *hs.SubscriptionArn != "pending confirmation" {
		t.Fatalf("https Subscribe: %v %v", hs, err)
	}
	_, err = sn.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: &topicArn, Token: aws.String("not-a-token")})
	expectCode(t, "ConfirmSubscription with a wrong token", err, "InvalidParameter")

	// SigV4: a wrong secret is refused.
	bad := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.url()),
		Credentials: credentials.NewStaticCredentialsProvider(srv.access, "wrong-secret", "")})
	if _, err := bad.ListTopics(ctx, &awssns.ListTopicsInput{}); err == nil {
		t.Error("a request signed with the wrong secret was accepted")
	}

	// DeleteTopic ends its subscriptions.
	if _, err := sn.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: &topicArn}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := sn.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{}); len(ls.Subscriptions) != 0 {
		t.Errorf("%d subscriptions left after DeleteTopic", len(ls.Subscriptions))
	}
}

// TestSDKFifoAndDeadLetter: a FIFO topic delivers to a FIFO queue in
// order per message group and deduplicates; a subscription whose queue
// was deleted dead-letters after its retries.
func TestSDKFifoAndDeadLetter(t *testing.T) {
	srv := startServer(t, t.TempDir(), freeAddr(t))
	ctx := ctxT(t, 2*time.Minute)
	sn, sq := srv.sns(), srv.sqs()

	ft, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("orders.fifo"),
		Attributes: map[string]string{"FifoTopic": "true", "ContentBasedDeduplication": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	fq := createQueue(t, ctx, sq, "orders.fifo", map[string]string{"FifoQueue": "true"})
	if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ft.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(fq.arn),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	_, err = sn.Publish(ctx, &awssns.PublishInput{TopicArn: ft.TopicArn, Message: aws.String("no group")})
	expectCode(t, "FIFO publish without MessageGroupId", err, "InvalidParameter")
	const perGroup = 20
	for i := range perGroup {
		for _, g := range []string{"alice", "bob"} {
			if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: ft.TopicArn, Message: aws.String(fmt.Sprintf("%s-%03d", g, i)), MessageGroupId: aws.String(g)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A duplicate (same content, within 5 minutes) is delivered once.
	if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: ft.TopicArn, Message: aws.String("alice-000"), MessageGroupId: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, ctx, sq, fq.url, 2*perGroup, 20*time.Second)
	if len(got) != 2*perGroup {
		t.Fatalf("FIFO queue received %d messages, want %d", len(got), 2*perGroup)
	}
	next := map[string]int{}
	for _, m := range got {
		g, n, _ := strings.Cut(*m.Body, "-")
		if want := fmt.Sprintf("%03d", next[g]); n != want {
			t.Fatalf("group %s: got %s, want %s (out of order)", g, n, want)
		}
		next[g]++
	}
	if more := receive(t, ctx, sq, fq.url, 1, 2*time.Second); len(more) != 0 {
		t.Errorf("the duplicate was delivered: %v", *more[0].Body)
	}

	// Dead-letter: the subscribed queue is deleted; after 2 retries 1 s
	// apart the message goes to the subscription's dead-letter queue.
	st, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatal(err)
	}
	doomed := createQueue(t, ctx, sq, "doomed", nil)
	dlq := createQueue(t, ctx, sq, "alerts-dlq", nil)
	sub, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: st.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(doomed.arn),
		Attributes: map[string]string{
			"RedrivePolicy":  `{"deadLetterTargetArn":"` + dlq.arn + `"}`,
			"DeliveryPolicy": `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":2}}`,
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sq.DeleteQueue(ctx, &awssqs.DeleteQueueInput{QueueUrl: aws.String(doomed.url)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: st.TopicArn, Message: aws.String("fire")}); err != nil {
		t.Fatal(err)
	}
	dead := receive(t, ctx, sq, dlq.url, 1, 20*time.Second)
	if len(dead) != 1 {
		t.Fatalf("dead-letter queue received %d messages, want 1", len(dead))
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("dead-lettered after %v; two retries 1 s apart take at least 2 s", took)
	}
	var env envelope
	if err := json.Unmarshal([]byte(*dead[0].Body), &env); err != nil || env.Message != "fire" {
		t.Errorf("dead letter body %s: %v", *dead[0].Body, err)
	}
	if c := dead[0].MessageAttributes["ErrorCode"]; c.StringValue == nil || *c.StringValue != "QueueDoesNotExist" {
		t.Errorf("dead letter ErrorCode: %+v", c)
	}
	out := srv.orch(t, "describe", "topic", "alerts")
	if !strings.Contains(out, "3 failed attempts, 1 dead-lettered") || !strings.Contains(out, *sub.SubscriptionArn) {
		t.Errorf("orch describe topic alerts:\n%s", out)
	}
}

// TestSDKFilteredSubscriptions: subscriptions with filter policies (on
// attributes and on the body) receive only what matches; an invalid
// policy is refused with InvalidParameter and the reason.
func TestSDKFilteredSubscriptions(t *testing.T) {
	srv := startServer(t, t.TempDir(), freeAddr(t))
	ctx := ctxT(t, time.Minute)
	sn, sq := srv.sns(), srv.sqs()
	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("coffee-news")})
	if err != nil {
		t.Fatal(err)
	}
	arn := ct.TopicArn
	subs := map[string]map[string]string{
		"everything": nil,
		"coupons":    {"FilterPolicy": `{"category":["coupon"],"discount":[{"numeric":[">=",20]}]}`, "RawMessageDelivery": "true"},
		"trivia":     {"FilterPolicyScope": "MessageBody", "FilterPolicy": `{"kind":[{"prefix":"trivia"}]}`, "RawMessageDelivery": "true"},
	}
	urls := map[string]string{}
	for name, attrs := range subs {
		q := createQueue(t, ctx, sq, name, nil)
		urls[name] = q.url
		if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: arn, Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn), Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
	}
	sa := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	na := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(v)}
	}
	msgs := []*awssns.PublishInput{
		{Message: aws.String("25% off"), MessageAttributes: map[string]snstypes.MessageAttributeValue{"category": sa("coupon"), "discount": na("25")}},
		{Message: aws.String("5% off"), MessageAttributes: map[string]snstypes.MessageAttributeValue{"category": sa("coupon"), "discount": na("5")}},
		{Message: aws.String(`{"kind":"trivia-beans","text":"arabica"}`)},
		{Message: aws.String(`{"kind":"new-product","text":"oat latte"}`)},
	}
	for _, m := range msgs {
		m.TopicArn = arn
		if _, err := sn.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := receive(t, ctx, sq, urls["everything"], 4, 10*time.Second); len(got) != 4 {
		t.Fatalf("the unfiltered subscription got %d of 4", len(got))
	}
	for name, want := range map[string]string{"coupons": "25% off", "trivia": `{"kind":"trivia-beans","text":"arabica"}`} {
		got := receive(t, ctx, sq, urls[name], 2, 3*time.Second)
		if len(got) != 1 || *got[0].Body != want {
			var bodies []string
			for _, m := range got {
				bodies = append(bodies, *m.Body)
			}
			t.Errorf("%s received %q, want only %q", name, bodies, want)
		}
	}
	_, err = sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: arn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:everything"),
		Attributes: map[string]string{"FilterPolicy": `{"discount":[{"numeric":[">"]}]}`}})
	var ip *snstypes.InvalidParameterException
	if !errors.As(err, &ip) || !strings.Contains(err.Error(), "FilterPolicy: ") {
		t.Errorf("an invalid filter policy: %v, want InvalidParameter naming FilterPolicy", err)
	}
}

// TestReceiveAfterLostResponse: a ReceiveMessage response that never
// reaches the client (what the SDK's retry after a closed connection
// leaves behind) must not make receive miss the messages it handed out:
// they come back after receiveVisibility and receive gets each once.
// With the queue's default 30 s visibility this failed deterministically.
func TestReceiveAfterLostResponse(t *testing.T) {
	srv := startServer(t, t.TempDir(), freeAddr(t))
	ctx := ctxT(t, time.Minute)
	sq := srv.sqs()
	q := createQueue(t, ctx, sq, "lost-response", nil)
	for i := range 3 {
		if _, err := sq.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// The lost attempt: the server hands the messages out, the client never sees them.
	lost, err := sq.ReceiveMessage(ctx, receiveInput(q.url))
	if err != nil || len(lost.Messages) == 0 {
		t.Fatalf("first ReceiveMessage: %v, %v", lost, err)
	}
	got := receive(t, ctx, sq, q.url, 3, 10*time.Second)
	bodies := map[string]bool{}
	for _, m := range got {
		bodies[*m.Body] = true
	}
	if len(got) != 3 || !bodies["m0"] || !bodies["m1"] || !bodies["m2"] {
		t.Fatalf("after a lost receive response, receive got %d messages %v within 10 s, want m0 m1 m2 once each", len(got), bodies)
	}
}
