package e2e

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

func sqsClient(endpoint, key, secret string) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		HTTPClient:   e2eHTTP,
	})
}

// TestQueuesSurviveKillingAReplica sends and deletes messages through one
// of two orch servers on an external etcd, kills the other, which owns the
// queue's shard, with SIGKILL, and checks through the survivor that every
// acknowledged send is delivered and no acknowledged delete comes back.
func TestQueuesSurviveKillingAReplica(t *testing.T) {
	etcd := startEtcd(t)
	c := newCluster(t)
	servers := []*proc{startServer(t, c, "--etcd-endpoints", etcd), startServer(t, c, "--etcd-endpoints", etcd)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Find the replica that owns the queue's shard (once the shards have
	// settled between the two); talk to the other one, which forwards to
	// the owner, then kill the owner.
	f := &shardFleet{c: c, procs: servers}
	testutil.WaitFor(t, 30*time.Second, "queue ha created", func() (bool, string) {
		_, err := sqsClient(c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey).
			CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("ha")})
		return err == nil, fmt.Sprint(err)
	})
	f.queues = []string{"ha"}
	owner := slices.Index(c.urls, f.waitStable(t, c.urls[0])["ha"])
	if owner < 0 {
		t.Fatalf("the owner of queue ha is none of %v", c.urls)
	}
	cli := sqsClient(c.urls[1-owner], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	q, err := cli.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("ha")})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if _, err := cli.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprintf("m-%03d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	deleted := map[string]bool{}
	for len(deleted) < 50 {
		r, err := cli.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 600})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			if len(deleted) == 50 {
				break // stays in flight: must come back after the crash
			}
			if _, err := cli.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			deleted[*m.Body] = true
		}
	}

	servers[owner].kill(syscall.SIGKILL)
	servers[owner].wait(t, 60*time.Second)

	got := map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for len(got) < n-len(deleted) && time.Now().Before(deadline) {
		r, err := cli.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil {
			time.Sleep(200 * time.Millisecond) // the survivor is taking the queues over
			continue
		}
		for _, m := range r.Messages {
			if deleted[*m.Body] {
				t.Fatalf("%s came back after its delete was acknowledged", *m.Body)
			}
			got[*m.Body] = true
			if _, err := cli.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete after take-over: %v", err)
			}
		}
	}
	if len(got) != n-len(deleted) {
		t.Fatalf("after killing a replica %d of the %d undeleted messages were delivered", len(got), n-len(deleted))
	}
}
