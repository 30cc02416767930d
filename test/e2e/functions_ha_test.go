package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// lambdaClientAt is the stock SDK's Lambda client on one replica.
func lambdaClientAt(c *cluster, url string) *awslambda.Client {
	return awslambda.New(awslambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1, HTTPClient: e2eHTTP,
		Credentials: credentials.NewStaticCredentialsProvider(c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey, ""),
	})
}

// usageOn is what replica url metered for the function (each replica
// meters the calls it routed); zero when it metered none.
func usageOn(t *testing.T, c *cluster, url, fn string) wire.FunctionUsage {
	t.Helper()
	u, err := c.clientFor([]string{url}, c.cfg.Token).Usage(context.Background())
	if err != nil {
		t.Fatalf("usage on %s: %v", url, err)
	}
	for _, f := range u.Functions {
		if f.Function == fn {
			return f
		}
	}
	return wire.FunctionUsage{}
}

// pollsQueue reports whether a server's log says it started a poller for
// queue q (pkg/function's runMappings logs each start).
func pollsQueue(p *proc, q string) bool {
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(l, `msg="polling a queue for a function"`) && strings.Contains(l, "queue="+q+" ") {
			return true
		}
	}
	return false
}

var receiptLine = regexp.MustCompile(`RECEIPT order=(m-\d+) `)

// receiptsOnNode counts, per order id, the receipts the function's
// containers on node printed (their Docker logs: an environment is never
// replaced in this test, so no log is lost).
func receiptsOnNode(t *testing.T, node string) map[string]int {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.function-node="+node).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, id := range strings.Fields(string(out)) {
		logs, err := exec.Command("docker", "logs", id).CombinedOutput()
		if err != nil {
			continue // removed meanwhile
		}
		for _, m := range receiptLine.FindAllStringSubmatch(string(logs), -1) {
			got[m[1]]++
		}
	}
	return got
}

// TestFunctionsTwoReplicas: two orch server replicas on one external etcd
// and one Docker agent attached to both. The stock SDK invokes through
// either replica (RequestResponse and Event, each run once); a queue
// mapping's poller runs on the replica owning the queue's shard; that
// replica is killed with SIGKILL while orders stream in, the survivor
// takes the shard and its poller, and every acknowledged order gets its
// receipt (zero lost; at-least-once duplicates counted and reported).
func TestFunctionsTwoReplicas(t *testing.T) {
	needDocker(t)
	if err := exec.Command("docker", "image", "inspect", receiptImage).Run(); err != nil {
		t.Fatalf("image %s is missing: run `make images` first", receiptImage)
	}
	etcd := startEtcd(t)
	c := newCluster(t)
	procs := []*proc{startServer(t, c, "--etcd-endpoints", etcd), startServer(t, c, "--etcd-endpoints", etcd)}
	node := fmt.Sprintf("fnrest-ha-%d", time.Now().UnixNano()%1e9)
	c.startAgent(t, node, "--runtime", "docker", "--listen", freeAddr(t), "--function-idle-timeout", "10m")
	t.Cleanup(func() { removeFunctionContainers(node) })
	waitNodes(t, c, 1)
	ctx := context.Background()
	lcs := []*awslambda.Client{lambdaClientAt(c, c.urls[0]), lambdaClientAt(c, c.urls[1])}
	const fn = "ha-receipt"
	createReceipt(t, lcs[0], fn, 5, nil)

	// Direct invocations through either replica, both types. The agent
	// attaches its invocation stream to every replica it was given.
	for i, lc := range lcs {
		out := invokeWhenReady(t, lc, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"id":"d-` + strconv.Itoa(i) + `"}`)})
		if out.StatusCode != 200 || out.FunctionError != nil || !strings.Contains(string(out.Payload), "RECEIPT order=d-"+strconv.Itoa(i)) {
			t.Fatalf("RequestResponse via replica %d: %d %v %s", i, out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
		ev, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{"echo":"event"}`)})
		if err != nil || ev.StatusCode != 202 {
			t.Fatalf("Event via replica %d: %v %+v", i, err, ev)
		}
	}
	// Two calls and two Events: four invocations in all, metered by the
	// replicas that routed them. An Event run by both replicas makes six.
	var total int64
	testutil.WaitFor(t, 60*time.Second, "both Event invocations run", func() (bool, string) {
		total = usageOn(t, c, c.urls[0], fn).Invocations + usageOn(t, c, c.urls[1], fn).Invocations
		return total >= 4, fmt.Sprintf("%d invocations metered", total)
	})
	if total != 4 {
		t.Fatalf("%d invocations metered over the replicas, want 4 (2 RequestResponse, 2 Event run once each)", total)
	}

	// A queue mapping. Its poller runs on the replica owning the queue.
	const q = "ha-orders"
	sq0 := sqsClient(c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	if _, err := sq0.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(q), Attributes: map[string]string{"VisibilityTimeout": "10"}}); err != nil {
		t.Fatal(err)
	}
	owners := (&shardFleet{c: c, queues: []string{q}}).waitStable(t, c.urls[0])
	vi := slices.Index(c.urls, owners[q])
	if vi < 0 {
		t.Fatalf("queue owner %q is none of %v", owners[q], c.urls)
	}
	si := 1 - vi
	victim, survivor := procs[vi], procs[si]
	if _, err := lcs[si].CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String(fn),
		EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:" + q), BatchSize: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the owner polling the queue", func() (bool, string) {
		return pollsQueue(victim, q), "no poller on the owner yet"
	})
	if pollsQueue(survivor, q) {
		t.Fatal("the replica not owning the queue started a poller for it")
	}

	// Orders stream in through the survivor (forwarded to the owner while
	// it lives); the owner is killed a third of the way.
	const n = 240
	sq := sqsClient(c.urls[si], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	qurl := aws.String(c.urls[si] + "/000000000000/" + q)
	var mu sync.Mutex
	acked := map[string]bool{}
	killed := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(3 * time.Minute)
		for i := range n {
			id := fmt.Sprintf("m-%04d", i)
			if i == n/3 {
				victim.kill(syscall.SIGKILL)
				close(killed)
			}
			for time.Now().Before(deadline) {
				_, err := sq.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: qurl,
					MessageBody: aws.String(`{"id":"` + id + `","customer":"ha","drink":"latte","price":3}`)})
				if err == nil {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					break
				}
				time.Sleep(100 * time.Millisecond) // the shard is between owners: send again
			}
			time.Sleep(20 * time.Millisecond) // a stream, not a burst
		}
	}()
	<-killed
	wg.Wait()
	if len(acked) != n {
		t.Fatalf("%d of %d sends acknowledged within 3 minutes", len(acked), n)
	}
	testutil.WaitFor(t, 60*time.Second, "the survivor polling the queue", func() (bool, string) {
		return pollsQueue(survivor, q), "no poller on the survivor"
	})

	// Every acknowledged order gets its receipt, and the queue drains.
	var got map[string]int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got = receiptsOnNode(t, node)
		missing := 0
		for id := range acked {
			if got[id] == 0 {
				missing++
			}
		}
		a, err := sq.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: qurl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		left := "?"
		if err == nil {
			left = a.Attributes["ApproximateNumberOfMessages"] + "+" + a.Attributes["ApproximateNumberOfMessagesNotVisible"]
		}
		if missing == 0 && left == "0+0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged orders never handled; messages left %s", missing, n, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
	dups := 0
	for _, k := range got {
		dups += k - 1
	}
	t.Logf("%d orders, every one handled; %d handled more than once (at-least-once, after the kill)", n, dups)

	// The survivor serves direct calls alone, and Event invocations
	// (whatever shard their function fell in).
	before := usageOn(t, c, c.urls[si], fn).Invocations
	out, err := lcs[si].Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"echo":"after"}`)})
	if err != nil || out.FunctionError != nil || string(out.Payload) != `"after"` {
		t.Fatalf("RequestResponse via the survivor: %v %+v", err, out)
	}
	if _, err := lcs[si].Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{"echo":"event after"}`)}); err != nil {
		t.Fatalf("Event via the survivor: %v", err)
	}
	testutil.WaitFor(t, 60*time.Second, "the Event invocation run by the survivor", func() (bool, string) {
		now := usageOn(t, c, c.urls[si], fn).Invocations
		return now >= before+2, fmt.Sprintf("%d invocations since the kill", now-before)
	})
}
