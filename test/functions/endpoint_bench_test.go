package functions

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
)

// Benchmarks through the server's endpoint (make bench-functions): an
// in-process orch server, an in-process agent on the real Docker, the
// aws-lambda-go image, and the stock aws-sdk-go-v2 clients calling the
// Lambda and SQS APIs over HTTP with SigV4, as users do.

type endpoint struct {
	cp   *testutil.ControlPlane
	lc   *awslambda.Client
	sqs  *awssqs.Client
	node string
}

// startEndpoint starts a server and one Docker agent running perEnv
// invocations per environment; everything is removed at the end.
func startEndpoint(b *testing.B, perEnv int) *endpoint {
	b.Helper()
	needDocker(b)
	cp := testutil.StartServer(b)
	rt, err := docker.New()
	if err != nil {
		b.Fatal(err)
	}
	node := fmt.Sprintf("fn-bench-%d", time.Now().UnixNano()%1e9)
	ctx, cancel := context.WithCancel(context.Background())
	ag, err := agent.New(agent.Config{NodeName: node, Runtime: rt, ControlPlane: cp.Agent.Clone(), Logger: testutil.Logger(), StatsInterval: -1,
		Functions: &agent.FunctionsConfig{ListenAddr: bridgeAddr(), PerEnvironment: perEnv}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.function-node="+node).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	creds := credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")
	e := &endpoint{cp: cp, node: node,
		lc:  awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1, Credentials: creds}),
		sqs: awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1, Credentials: creds})}
	return e
}

// function creates the receipt function through the stock SDK and waits
// for its first answer (its environment is warm after).
func (e *endpoint) function(b *testing.B, name string, timeout int32) {
	b.Helper()
	ctx := context.Background()
	if _, err := e.lc.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String(name), PackageType: lambdatypes.PackageTypeImage,
		Code: &lambdatypes.FunctionCode{ImageUri: aws.String(image)}, Role: aws.String("arn:aws:iam::000000000000:role/bench"),
		MemorySize: aws.Int32(128), Timeout: aws.Int32(timeout)}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := e.invoke(ctx, name)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the function never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *endpoint) invoke(ctx context.Context, name string) (time.Duration, error) {
	t0 := time.Now()
	out, err := e.lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"echo":1}`)})
	if err != nil {
		return 0, err
	}
	if out.FunctionError != nil {
		return 0, fmt.Errorf("function error %s: %s", *out.FunctionError, out.Payload)
	}
	return time.Since(t0), nil
}

// handlerP50 is the handler's own duration p50 as the agent measured it
// (orch usage: the REPORT lines' Duration).
func (e *endpoint) handlerP50(b *testing.B, name string) time.Duration {
	u, err := e.cp.Admin.Usage(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range u.Functions {
		if f.Function == name {
			return time.Duration(f.P50Ms * float64(time.Millisecond))
		}
	}
	b.Fatalf("no usage for %s", name)
	return 0
}

// BenchmarkEndpointWarmInvoke: one caller, the stock SDK's Invoke
// (RequestResponse) of a no-op handler in a warm container through the
// server; the overhead is the whole call's latency minus the handler's own
// time (its REPORT Duration, p50 from orch usage).
func BenchmarkEndpointWarmInvoke(b *testing.B) {
	e := startEndpoint(b, 1)
	e.function(b, "warm", 5)
	ctx := context.Background()
	for range 200 { // warm the connections and the path
		if _, err := e.invoke(ctx, "warm"); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		d, err := e.invoke(ctx, "warm")
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	h := e.handlerP50(b, "warm")
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
	b.ReportMetric(ms(h), "handler-p50-ms")
	b.ReportMetric(ms(pct(lat, 50)-h), "overhead-p50-ms")
	b.ReportMetric(ms(pct(lat, 99)-h), "overhead-p99-ms")
}

// BenchmarkEndpointC16: 16 concurrent SDK callers, a no-op handler, up to
// 16 invocations per environment.
func BenchmarkEndpointC16(b *testing.B) {
	e := startEndpoint(b, 16)
	e.function(b, "c16", 5)
	ctx := context.Background()
	var next atomic.Int64
	warm := func(n int64) []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		next.Store(0)
		for range 16 {
			wg.Go(func() {
				var local []time.Duration
				for next.Add(1) <= n {
					d, err := e.invoke(ctx, "c16")
					if err != nil {
						b.Error(err)
						return
					}
					local = append(local, d)
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return lat
	}
	warm(500)
	b.ResetTimer()
	start := time.Now()
	lat := warm(int64(b.N))
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/el.Seconds(), "invokes/s")
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
}

// BenchmarkEndpointColdStart: from zero environments (a configuration
// change replaces them) to the first response of the SDK's Invoke, beside
// `docker run --rm` of the same image to its first output, alternating in
// the same run.
func BenchmarkEndpointColdStart(b *testing.B) {
	e := startEndpoint(b, 1)
	e.function(b, "cold", 5)
	ctx := context.Background()
	var cold, run []time.Duration
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.lc.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("cold"),
			Environment: &lambdatypes.Environment{Variables: map[string]string{"ROUND": fmt.Sprint(i)}}}); err != nil {
			b.Fatal(err)
		}
		// The cache serving invocations follows the update a moment later:
		// wait until the answer comes from the new revision's environment.
		var d time.Duration
		for {
			t0 := time.Now()
			out, err := e.lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("cold"), Payload: []byte(`{"echo":1}`), LogType: lambdatypes.LogTypeNone})
			if err != nil || out.FunctionError != nil {
				b.Fatalf("%v", err)
			}
			d = time.Since(t0)
			if d > 50*time.Millisecond { // a cold start (warm answers take ~1 ms)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cold = append(cold, d)

		cname := fmt.Sprintf("%s-run-%d", e.node, i)
		t0 := time.Now()
		cmd := exec.Command("docker", "run", "--rm", "--name", cname, image)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadByte(); err != nil {
			b.Fatalf("docker run printed nothing: %v", err)
		}
		run = append(run, time.Since(t0))
		_ = cmd.Wait()
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(cold, 50)), "cold-p50-ms")
	b.ReportMetric(ms(pct(cold, 99)), "cold-p99-ms")
	b.ReportMetric(ms(pct(run, 50)), "dockerrun-p50-ms")
	b.ReportMetric(ms(pct(run, 99)), "dockerrun-p99-ms")
	b.ReportMetric(float64(pct(cold, 50))/float64(pct(run, 50)), "p50-ratio")
	b.ReportMetric(float64(pct(cold, 99))/float64(pct(run, 99)), "p99-ratio")
}

// sendN puts n orders on the queue through the SDK (batches of 10).
func (e *endpoint) sendN(b *testing.B, url string, n int) {
	ctx := context.Background()
	for i := 0; i < n; i += 10 {
		var es []sqstypes.SendMessageBatchRequestEntry
		for j := 0; j < 10 && i+j < n; j++ {
			es = append(es, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)),
				MessageBody: aws.String(fmt.Sprintf(`{"id":"o%d","customer":"c","drink":"latte","price":3}`, i+j))})
		}
		out, err := e.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: es})
		if err != nil || len(out.Failed) > 0 {
			b.Fatal(err, out)
		}
	}
}

func (e *endpoint) queue(b *testing.B, name string) string {
	out, err := e.sqs.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "30"}})
	if err != nil {
		b.Fatal(err)
	}
	return *out.QueueUrl
}

func (e *endpoint) backlog(b *testing.B, url string) int {
	out, err := e.sqs.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		b.Fatal(err)
	}
	var n, m int
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &n)
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessagesNotVisible"], &m)
	return n + m
}

// BenchmarkEndpointQueueTrigger: b.N orders already in a queue on the
// server, drained by an event source mapping (batch size 10, created with
// the stock SDK) into the handler; beside the baseline in the same run,
// the same number drained from another queue by 10 SDK consumers doing
// ReceiveMessage(10) + DeleteMessageBatch. Both clocks stop when the
// queue's backlog reaches zero.
func BenchmarkEndpointQueueTrigger(b *testing.B) {
	e := startEndpoint(b, 10)
	e.function(b, "trigger", 5)
	ctx := context.Background()
	n := b.N
	raw := e.queue(b, "raw")
	e.sendN(b, raw, n)
	src := e.queue(b, "src")
	e.sendN(b, src, n)

	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	var rawEnd atomic.Int64 // when the last message was deleted (idle long polls end later)
	for range 10 {
		wg.Go(func() {
			for left.Load() > 0 {
				out, err := e.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(raw), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					b.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				var del []sqstypes.DeleteMessageBatchRequestEntry
				for i, m := range out.Messages {
					del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				}
				if _, err := e.sqs.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(raw), Entries: del}); err != nil {
					b.Error(err)
					return
				}
				if left.Add(-int64(len(out.Messages))) <= 0 {
					rawEnd.Store(time.Now().UnixNano())
				}
			}
		})
	}
	wg.Wait()
	rawEl := time.Duration(rawEnd.Load() - t0.UnixNano())

	t0 = time.Now()
	if _, err := e.lc.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("trigger"),
		EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:src"), BatchSize: aws.Int32(10),
		ScalingConfig:         &lambdatypes.ScalingConfig{MaximumConcurrency: aws.Int32(10)}, // as many pollers as the baseline's consumers
		FunctionResponseTypes: []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures}}); err != nil {
		b.Fatal(err)
	}
	for e.backlog(b, src) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	trigEl := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(n)/trigEl.Seconds(), "trigger-msgs/s")
	b.ReportMetric(float64(n)/rawEl.Seconds(), "raw-msgs/s")
	b.ReportMetric(rawEl.Seconds()/trigEl.Seconds(), "ratio")
}

// BenchmarkEndpointQueueLatency: orders sent through the SDK at 500/s for
// b.N messages, 10 % of them not orders (reported as batch item failures,
// left to the redrive policy's dead-letter queue); the latency is from the
// send to the handler printing the order's receipt (the container log's
// timestamp, read with docker logs -t). Every order must get its receipt
// and every bad message must reach the dead-letter queue.
func BenchmarkEndpointQueueLatency(b *testing.B) {
	e := startEndpoint(b, 10)
	e.function(b, "lat", 5)
	ctx := context.Background()
	dlq := e.queue(b, "lat-dlq")
	out, err := e.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("lat-src"), Attributes: map[string]string{
		"VisibilityTimeout": "5", "RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:lat-dlq","maxReceiveCount":"1"}`}})
	if err != nil {
		b.Fatal(err)
	}
	src := *out.QueueUrl
	if _, err := e.lc.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("lat"),
		EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:lat-src"), BatchSize: aws.Int32(10),
		FunctionResponseTypes: []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures}}); err != nil {
		b.Fatal(err)
	}
	n := b.N
	sent := make([]time.Time, n)
	bad := 0
	b.ResetTimer()
	tick := time.NewTicker(2 * time.Millisecond) // 500/s
	for i := range n {
		<-tick.C
		body := fmt.Sprintf(`{"id":"m%d","customer":"c","drink":"latte","price":3}`, i)
		if i%10 == 9 {
			body = fmt.Sprintf("not an order %d", i)
			bad++
		}
		sent[i] = time.Now()
		if _, err := e.sqs.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(src), MessageBody: aws.String(body)}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	// Wait for every order's receipt and every bad message in the DLQ.
	var lat []time.Duration
	deadline := time.Now().Add(90 * time.Second)
	for {
		lat = lat[:0]
		ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.function-node="+e.node).Output()
		for _, id := range strings.Fields(string(ids)) {
			logs, _ := exec.Command("docker", "logs", "-t", id).Output()
			sc := bufio.NewScanner(strings.NewReader(string(logs)))
			for sc.Scan() {
				line := sc.Text()
				ts, rest, ok := strings.Cut(line, " ")
				if !ok || !strings.HasPrefix(rest, "RECEIPT order=m") {
					continue
				}
				var i int
				if _, err := fmt.Sscanf(rest, "RECEIPT order=m%d", &i); err != nil || i >= n {
					continue
				}
				at, err := time.Parse(time.RFC3339Nano, ts)
				if err == nil {
					lat = append(lat, at.Sub(sent[i]))
				}
			}
		}
		if len(lat) >= n-bad && e.backlog(b, dlq) >= bad {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 90 s: %d of %d receipts, %d of %d in the dead-letter queue", len(lat), n-bad, e.backlog(b, dlq), bad)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.StopTimer()
	if len(lat) != n-bad {
		b.Fatalf("%d receipts for %d orders (duplicates?)", len(lat), n-bad)
	}
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
	b.ReportMetric(float64(bad), "dead-lettered")
	b.ReportMetric(0, "lost")
}
