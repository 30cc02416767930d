package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/queue"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestAutoscalingWhenTheLeaderDoesNotOwnTheQueues runs two orch servers on
// one external etcd and makes the controller leader (which runs the
// autoscaler) a different replica from the owner of the queue's shard, by
// revoking the owner's controller-election lease (if it leads) as an
// expired session would: the other server leads, the owner keeps the shard. A queue-backlog
// service at zero must still wake on its first message (sent through the
// leader, which forwards it to the owner), scale out on the backlog, and
// go back to zero once the queue is drained. Tasks run on a hollow node
// (orchlet --runtime fake): what is under test is the control plane.
func TestAutoscalingWhenTheLeaderDoesNotOwnTheQueues(t *testing.T) {
	etcd := startEtcd(t)
	c := newCluster(t)
	startServer(t, c, "--etcd-endpoints", etcd)
	startServer(t, c, "--etcd-endpoints", etcd)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	electionHolder := func(name string) (string, clientv3.LeaseID) {
		resp, err := cli.Get(ctx, "/orch/election/"+name+"/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 {
			return "", 0
		}
		return string(resp.Kvs[0].Value), clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	// The replica owning ha-orders' shard, once the shards have settled
	// between the two (a hand-over waits 3 s).
	shard := fmt.Sprintf("%s-%02d", queue.ShardGroup, queue.ShardOf("ha-orders", 16))
	var owner, leader, last string
	testutil.WaitFor(t, 60*time.Second, "the owner of the queue's shard holds still", func() (bool, string) {
		q, _ := electionHolder(shard)
		settled := q != "" && q == last
		last = q
		if !settled {
			time.Sleep(4 * time.Second)
			return false, fmt.Sprintf("shard owner %q", q)
		}
		return true, ""
	})
	owner = last
	leader = c.urls[0]
	if owner == c.urls[0] {
		leader = c.urls[1]
	}
	t0 := time.Now()
	if isLeader(owner) {
		// Move the controller off the queue's owner.
		_, lease := electionHolder("controller")
		if _, err := cli.Revoke(ctx, lease); err != nil {
			t.Fatalf("revoking the queue owner's controller lease: %v", err)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "the other server leads while the first keeps the queue's shard", func() (bool, string) {
		q, _ := electionHolder(shard)
		return isLeader(leader) && !isLeader(owner) && q == owner,
			fmt.Sprintf("queue shard owner %q; leader: owner %v, other %v", q, isLeader(owner), isLeader(leader))
	})

	t.Logf("leadership moved in %s", time.Since(t0).Round(time.Millisecond))
	node := fmt.Sprintf("e2e-haas-%d", time.Now().UnixNano()%1e9)
	c.startAgent(t, node, "--runtime", "fake")
	waitNodes(t, c, 1)
	manifest := `kind: Queue
QueueName: ha-orders
---
kind: TaskDefinition
family: ha-worker
containerDefinitions:
  - name: worker
    image: busybox
    memory: 32
---
kind: Service
serviceName: ha-worker
taskDefinition: ha-worker
autoScaling:
  minCapacity: 0
  maxCapacity: 10
  queue: ha-orders
  messagesPerTask: 5
  scaleToZeroAfterSeconds: 2
  scaleInCooldown: 2
`
	if out, code := c.orch(t, manifest, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	if svc, n := serviceState(t, c, "ha-worker"); svc.Desired() != 0 || n != 0 {
		t.Fatalf("ha-worker with an empty queue: desired %d, %d running; want 0", svc.Desired(), n)
	}

	// Through the leader, which forwards to the owner.
	sq := sqsClient(leader, c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	url, err := sq.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("ha-orders")})
	if err != nil {
		t.Fatal(err)
	}
	send := func(i int) {
		if _, err := sq.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String(fmt.Sprintf("order %d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	start := time.Now()
	send(0)
	testutil.WaitFor(t, 10*time.Second, "a task RUNNING after the first message", func() (bool, string) {
		svc, n := serviceState(t, c, "ha-worker")
		return n >= 1, fmt.Sprintf("desired %d, %d running", svc.Desired(), n)
	})
	t.Logf("first message to a task RUNNING, leader != queue owner: %s", time.Since(start).Round(time.Millisecond))

	for i := 1; i < 20; i++ {
		send(i)
	}
	t0 = time.Now()
	testutil.WaitFor(t, 15*time.Second, "4 tasks for 20 messages at 5 per task", func() (bool, string) {
		svc, n := serviceState(t, c, "ha-worker")
		return svc.Desired() == 4 && n == 4, fmt.Sprintf("desired %d, %d running", svc.Desired(), n)
	})

	t.Logf("scaled out to 4 RUNNING in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	drained := drainQueue(t, ctx, sq, *url.QueueUrl, 20, 30*time.Second)
	if len(drained) != 20 {
		t.Fatalf("drained %d of 20 messages", len(drained))
	}
	testutil.WaitFor(t, 30*time.Second, "back to zero once the queue is empty", func() (bool, string) {
		svc, n := serviceState(t, c, "ha-worker")
		return svc.Desired() == 0 && n == 0, fmt.Sprintf("desired %d, %d running", svc.Desired(), n)
	})
	t.Logf("drained and back to zero in %s (scaleInCooldown and scaleToZeroAfterSeconds 2 s)", time.Since(t0).Round(time.Millisecond))
	out := c.mustOrch(t, "describe", "service", "ha-worker")
	// The sends race the evaluations, so the backlog an activity quotes
	// may be anything up to 20.
	for _, want := range []string{"Setting desired count to 1.", "Setting desired count to 4.", "queue ha-orders holds", "Setting desired count to 0."} {
		if !strings.Contains(out, want) {
			t.Errorf("orch describe service lacks %q:\n%s", want, out)
		}
	}
}
