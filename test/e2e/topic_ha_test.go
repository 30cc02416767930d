package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestTopicDeliveriesResumeOnAnotherReplica publishes through the replica
// that does not serve the topics (it forwards to the owner), with one
// subscription whose queue does not exist yet, so its deliveries stay
// pending; then it kills the owner with SIGKILL, creates the queue on the
// survivor, and checks that the survivor resumed every pending delivery.
// An http subscriber that refused its SubscriptionConfirmation until the
// kill gets it again from the survivor, with the same token.
func TestTopicDeliveriesResumeOnAnotherReplica(t *testing.T) {
	etcd := startEtcd(t)
	c := newCluster(t)
	servers := []*proc{startServer(t, c, "--etcd-endpoints", etcd), startServer(t, c, "--etcd-endpoints", etcd)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	owner := -1
	testutil.WaitFor(t, 30*time.Second, "a topic owner", func() (bool, string) {
		for i, p := range servers {
			if strings.Contains(p.Output(), "this server serves the topics") {
				owner = i
				return true, ""
			}
		}
		return false, "no server says it serves the topics"
	})
	other := c.urls[1-owner]
	creds := credentials.NewStaticCredentialsProvider(c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey, "")
	sn := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(other), Credentials: creds, HTTPClient: e2eHTTP})
	sq := sqsClient(other, c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)

	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("ha-news")})
	if err != nil {
		t.Fatal(err)
	}
	now, err := sq.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("ha-now")})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ha-now", "ha-late"} {
		in := &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:" + q),
			Attributes: map[string]string{"RawMessageDelivery": "true"}}
		if q == "ha-late" {
			// The queue does not exist yet: retry every second.
			in.Attributes["DeliveryPolicy"] = `{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":1,"numRetries":100}}`
		}
		if _, err := sn.Subscribe(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// An http subscriber that answers 503 to confirmations until told.
	var web struct {
		sync.Mutex
		ok     bool
		tokens []string
	}
	websrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		web.Lock()
		defer web.Unlock()
		if m["Type"] == "SubscriptionConfirmation" {
			web.tokens = append(web.tokens, m["Token"])
			if !web.ok {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}
	}))
	defer websrv.Close()
	confirmations := func() []string {
		web.Lock()
		defer web.Unlock()
		return append([]string(nil), web.tokens...)
	}
	webSub, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(websrv.URL + "/sns"), ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the http subscriber refused its confirmation", func() (bool, string) {
		return len(confirmations()) > 0, "no SubscriptionConfirmation yet"
	})

	const n = 50
	for i := range n {
		if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: ct.TopicArn, Message: aws.String(fmt.Sprintf("m-%02d", i))}); err != nil {
			t.Fatalf("publish %d through the forwarding replica: %v", i, err)
		}
	}
	if got := drainQueue(t, ctx, sq, *now.QueueUrl, n, 20*time.Second); len(got) != n {
		t.Fatalf("ha-now received %d of %d before the kill", len(got), n)
	}

	servers[owner].kill(syscall.SIGKILL)
	servers[owner].wait(t, 10*time.Second)
	refused := len(confirmations())
	web.Lock()
	web.ok = true
	web.Unlock()

	var lateURL string
	testutil.WaitFor(t, 60*time.Second, "the survivor creates ha-late", func() (bool, string) {
		q, err := sq.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("ha-late")})
		if err != nil {
			return false, err.Error()
		}
		lateURL = *q.QueueUrl
		return true, ""
	})
	got := drainQueue(t, ctx, sq, lateURL, n, 60*time.Second)
	for i := range n {
		if !got[fmt.Sprintf("m-%02d", i)] {
			t.Fatalf("after killing the owner, ha-late received %d of the %d acknowledged publishes (m-%02d missing)", len(got), n, i)
		}
	}
	testutil.WaitFor(t, 60*time.Second, "the survivor sends the confirmation again", func() (bool, string) {
		return len(confirmations()) > refused, fmt.Sprintf("%d confirmations, all before the kill", refused)
	})
	cs := confirmations()
	if cs[len(cs)-1] != cs[0] {
		t.Fatalf("the survivor sent token %q, want the subscription's %q", cs[len(cs)-1], cs[0])
	}
	if _, err := sn.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: ct.TopicArn, Token: aws.String(cs[0])}); err != nil {
		t.Fatalf("ConfirmSubscription with the resent token: %v", err)
	}
	a, err := sn.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: webSub.SubscriptionArn})
	if err != nil || a.Attributes["PendingConfirmation"] != "false" {
		t.Fatalf("after confirming: %v %v", a, err)
	}
}

// drainQueue receives and deletes until n distinct bodies arrived or the
// time is up.
func drainQueue(t *testing.T, ctx context.Context, sq *awssqs.Client, url string, n int, within time.Duration) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	deadline := time.Now().Add(within)
	for len(got) < n && time.Now().Before(deadline) {
		r, err := sq.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			time.Sleep(200 * time.Millisecond) // ownership is moving
			continue
		}
		for _, m := range r.Messages {
			got[*m.Body] = true
			_, _ = sq.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		}
	}
	return got
}
