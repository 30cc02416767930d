package bench

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// imageTag is the example images' tag ($ORCH_IMAGE_TAG, default latest).
func imageTag(name string) string {
	tag := os.Getenv("ORCH_IMAGE_TAG")
	if tag == "" {
		tag = "latest"
	}
	return "orch-example/" + name + ":" + tag
}

// scalingCluster is an in-process server (listening on every interface, so
// containers reach its queues) with one agent on rt, and an SQS client.
type scalingCluster struct {
	*testutil.ControlPlane
	sqs  *awssqs.Client
	node string
}

func startScalingCluster(b *testing.B, rt runtime.Runtime, node string) *scalingCluster {
	b.Helper()
	cp := testutil.StartServer(b, func(c *server.Config) { c.Listen = "0.0.0.0:0" })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	ag, err := agent.New(agent.Config{NodeName: node, Runtime: rt, Logger: testutil.Logger(), StatsInterval: -1,
		ControlPlane: client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken})})
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { ag.Run(ctx) })
	testutil.WaitFor(b, 30*time.Second, "agent registered", func() (bool, string) {
		_, _, err := cp.Admin.GetNode(ctx, node)
		return err == nil, fmt.Sprint(err)
	})
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")}
	return &scalingCluster{ControlPlane: cp, sqs: awssqs.NewFromConfig(cfg), node: node}
}

func (c *scalingCluster) running(name string) int {
	n := 0
	for _, t := range c.Caches.Tasks.List() {
		if model.ServiceOf(t) == name && t.LastStatus == model.StatusRunning && t.DesiredStatus == model.StatusRunning {
			n++
		}
	}
	return n
}

// waitRunning waits (polling the task cache every millisecond) until the
// service has n RUNNING tasks and returns when it saw that.
func (c *scalingCluster) waitRunning(b *testing.B, name string, n int, timeout time.Duration) time.Time {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.running(name) >= n {
			return time.Now()
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("%s: fewer than %d tasks RUNNING after %s", name, n, timeout)
	return time.Time{}
}

func (c *scalingCluster) drain(b *testing.B, url *string) {
	b.Helper()
	ctx := context.Background()
	for {
		out, err := c.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return
		}
		for _, m := range out.Messages {
			c.sqs.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: m.ReceiptHandle})
		}
	}
}

// BenchmarkAutoscalingWake measures, on real Docker, the time from the
// first message sent to the queue of a service at zero tasks to a task
// RUNNING, and from a backlog breach (a second message while one task
// runs, target 1 per task) to the second task RUNNING; interleaved with
// `docker run -d` of the same image (the baseline: Docker's own start).
func BenchmarkAutoscalingWake(b *testing.B) {
	const runs = 15
	image := "orch-example/web:latest" // unchanged by this branch
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		b.Fatalf("%s missing: run make images", image)
	}
	rt, err := docker.New()
	if err != nil {
		b.Fatal(err)
	}
	node := fmt.Sprintf("bench-wake-%d", time.Now().UnixNano()%1e6)
	defer exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=orch.node="+node+") >/dev/null 2>&1; docker rm -f $(docker ps -aq --filter label=orch.bench=wake) >/dev/null 2>&1").Run()
	c := startScalingCluster(b, rt, node)
	ctx := context.Background()
	q, err := c.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("wake")})
	if err != nil {
		b.Fatal(err)
	}
	applyDocs(b, c.Admin, `TaskDefinition {"family":"wake","containerDefinitions":[{"name":"web","image":"`+image+`","memory":16,"stopTimeout":1}]}`,
		`Service {"serviceName":"wake","taskDefinition":"wake","autoScaling":{"minCapacity":0,"maxCapacity":2,"queue":"wake","messagesPerTask":1,"scaleToZeroAfterSeconds":1,"scaleInCooldown":1}}`)
	send := func() {
		if _, err := c.sqs.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x")}); err != nil {
			b.Fatal(err)
		}
	}
	atZero := func() {
		c.drain(b, q.QueueUrl)
		testutil.WaitFor(b, 60*time.Second, "back at zero", func() (bool, string) {
			svc, tasks, _ := c.Admin.GetService(ctx, "wake")
			live := 0
			for _, t := range tasks {
				if !t.IsStopped() {
					live++
				}
			}
			return svc != nil && svc.Desired() == 0 && live == 0, fmt.Sprintf("desired %d, %d live", svc.Desired(), live)
		})
	}
	dockerRun := func() time.Duration {
		t0 := time.Now()
		out, err := exec.Command("docker", "run", "-d", "--label", "orch.bench=wake", "-m", "16m", image).CombinedOutput()
		if err != nil {
			b.Fatalf("docker run: %v %s", err, out)
		}
		d := time.Since(t0)
		exec.Command("docker", "rm", "-f", string(out[:len(out)-1])).Run()
		return d
	}
	for range b.N {
		var wake, breach, base []time.Duration
		for i := range runs + 1 {
			atZero()
			t0 := time.Now()
			send()
			t1 := c.waitRunning(b, "wake", 1, 60*time.Second)
			send()
			t2 := c.waitRunning(b, "wake", 2, 60*time.Second)
			d := dockerRun()
			if i == 0 {
				continue // warm-up
			}
			wake, breach, base = append(wake, t1.Sub(t0)), append(breach, t2.Sub(t1)), append(base, d)
		}
		report := func(what string, v []time.Duration) {
			b.Logf("%-34s p50 %6v  p99 %6v  min %6v  max %6v  (%d runs)", what, pct(v, 50).Round(time.Millisecond), pct(v, 99).Round(time.Millisecond),
				pct(v, 0).Round(time.Millisecond), pct(v, 100).Round(time.Millisecond), len(v))
		}
		report("first message at zero -> RUNNING", wake)
		report("backlog breach -> new task RUNNING", breach)
		report("docker run -d (baseline)", base)
		b.ReportMetric(float64(pct(wake, 50).Milliseconds()), "wake-p50-ms")
		b.ReportMetric(float64(pct(wake, 99).Milliseconds()), "wake-p99-ms")
		b.ReportMetric(float64(pct(breach, 50).Milliseconds()), "breach-p50-ms")
		b.ReportMetric(float64(pct(breach, 99).Milliseconds()), "breach-p99-ms")
		b.ReportMetric(float64(pct(base, 50).Milliseconds()), "docker-p50-ms")
	}
}

var servedRe = regexp.MustCompile(`served (order \d+)`)

// BenchmarkAutoscalingBurst sends 10,000 orders to the coffee shop's rush
// baristas at zero (real Docker, the coffee image) and measures the time
// until the queue is empty, the tasks used, and orders served more than
// once (a redelivery; scale-in must cause none), then waits for zero.
func BenchmarkAutoscalingBurst(b *testing.B) {
	const orders = 10000
	image := imageTag("coffee")
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		b.Fatalf("%s missing: run make images", image)
	}
	rt, err := docker.New()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		node := fmt.Sprintf("bench-burst-%d", time.Now().UnixNano()%1e6)
		defer exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=orch.node="+node+") >/dev/null 2>&1").Run()
		c := startScalingCluster(b, rt, node)
		ctx := context.Background()
		q, err := c.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("rush-orders"), Attributes: map[string]string{"VisibilityTimeout": "10"}})
		if err != nil {
			b.Fatal(err)
		}
		applyDocs(b, c.Admin, `TaskDefinition {"family":"rush-barista","containerDefinitions":[{"name":"barista","image":"`+image+`","memory":32,"stopTimeout":5,
			"command":["barista","-brew","1ms","-protect"],"environment":[{"name":"QUEUE","value":"rush-orders"}]}]}`,
			`Service {"serviceName":"rush-barista","taskDefinition":"rush-barista","autoScaling":{"minCapacity":0,"maxCapacity":5,"queue":"rush-orders","messagesPerTask":5,"scaleToZeroAfterSeconds":10,"scaleInCooldown":10}}`)
		t0 := time.Now()
		for i := 0; i < orders; i += 10 {
			var es []sqstypes.SendMessageBatchRequestEntry
			for j := i; j < i+10; j++ {
				es = append(es, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(fmt.Sprintf("order %d: latte", j))})
			}
			if _, err := c.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: es}); err != nil {
				b.Fatal(err)
			}
		}
		sent := time.Since(t0)
		peak := 0
		testutil.WaitFor(b, 20*time.Minute, "the backlog empty", func() (bool, string) {
			out, err := c.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
				AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
			if err != nil {
				return false, err.Error()
			}
			peak = max(peak, c.running("rush-barista"))
			v, nv := out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
			return v == "0" && nv == "0", v + " visible, " + nv + " in flight"
		})
		empty := time.Since(t0)
		testutil.WaitFor(b, 2*time.Minute, "back at zero", func() (bool, string) {
			svc, _, _ := c.Admin.GetService(ctx, "rush-barista")
			return svc.Desired() == 0 && c.running("rush-barista") == 0, fmt.Sprintf("desired %d", svc.Desired())
		})
		zero := time.Since(t0)
		served, tasks := map[string]int{}, 0
		for _, t := range c.Caches.Tasks.List() {
			if model.ServiceOf(t) != "rush-barista" {
				continue
			}
			tasks++
			rc, err := c.Admin.Logs(ctx, t.TaskID, url.Values{})
			if err != nil {
				b.Fatalf("logs of %s: %v", t.TaskID, err)
			}
			buf, _ := io.ReadAll(rc)
			rc.Close()
			for _, m := range servedRe.FindAllStringSubmatch(string(buf), -1) {
				served[m[1]]++
			}
		}
		twice := 0
		for _, n := range served {
			if n > 1 {
				twice += n - 1
			}
		}
		b.Logf("%d orders: sent in %v; queue empty after %v (%.0f orders/s); back to 0 after %v; tasks used %d (peak %d running); distinct served %d; served more than once %d",
			orders, sent.Round(time.Millisecond), empty.Round(time.Millisecond), float64(orders)/empty.Seconds(), zero.Round(time.Millisecond), tasks, peak, len(served), twice)
		if len(served) != orders || twice != 0 {
			b.Errorf("want every order served exactly once: %d distinct, %d repeats", len(served), twice)
		}
		b.ReportMetric(empty.Seconds(), "empty-s")
		b.ReportMetric(float64(tasks), "tasks")
		b.ReportMetric(float64(twice), "redeliveries")
	}
}

// BenchmarkAutoscalingFlapping drives an oscillating backlog (50 messages
// for 10 s, none for 10 s) at a service with the default 60 s window on
// the fake runtime for 3 minutes, and counts changes of scaling direction
// in its activities; extrapolated to 10 minutes.
func BenchmarkAutoscalingFlapping(b *testing.B) {
	const period, run = 20 * time.Second, 3 * time.Minute
	for range b.N {
		rt := fake.New(fake.Config{CPU: 8192, MemoryMiB: 16384, Images: []string{"fake"}})
		c := startScalingCluster(b, rt, "bench-flap")
		ctx := context.Background()
		q, err := c.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("flap")})
		if err != nil {
			b.Fatal(err)
		}
		applyDocs(b, c.Admin, `TaskDefinition {"family":"flap","containerDefinitions":[{"name":"a","image":"fake","memory":16,"stopTimeout":1}]}`,
			`Service {"serviceName":"flap","taskDefinition":"flap","autoScaling":{"minCapacity":0,"maxCapacity":20,"queue":"flap","messagesPerTask":5}}`)
		start := time.Now()
		for time.Since(start) < run {
			for i := 0; i < 50; i += 10 {
				var es []sqstypes.SendMessageBatchRequestEntry
				for j := range 10 {
					es = append(es, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String("x")})
				}
				if _, err := c.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: es}); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(period / 2) // the load's own rhythm, not a wait for a result
			c.drain(b, q.QueueUrl)
			time.Sleep(period / 2)
		}
		svc, _, err := c.Admin.GetService(ctx, "flap")
		if err != nil || svc.Scaling == nil {
			b.Fatalf("service: %v", err)
		}
		changes, dir, prev := 0, 0, 0
		var last time.Time
		minGap := time.Duration(0)
		for _, a := range svc.Scaling.Activities {
			var n int
			fmt.Sscanf(a.Description, "Setting desired count to %d.", &n)
			d := 0
			if n > prev {
				d = 1
			} else if n < prev {
				d = -1
			}
			if dir != 0 && d != 0 && d != dir {
				if !last.IsZero() && (minGap == 0 || a.StartTime.Sub(last) < minGap) {
					minGap = a.StartTime.Sub(last)
				}
				changes++
				last = a.StartTime
			}
			if d != 0 {
				dir = d
			}
			prev = n
		}
		per10 := float64(changes) * float64(10*time.Minute) / float64(run)
		b.Logf("oscillating load (period %v) for %v: %d activities, %d direction changes (%.1f per 10 min extrapolated); shortest gap between changes %v",
			period, run, len(svc.Scaling.Activities), changes, per10, minGap)
		b.ReportMetric(per10, "changes/10min")
	}
}
