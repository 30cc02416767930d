package functions

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// pprof labels (inherited by every goroutine each part starts) split
	// a -cpuprofile by part: part=server, part=agent, part=client.
	var cp *testutil.ControlPlane
	pprof.Do(context.Background(), pprof.Labels("part", "server"), func(context.Context) { cp = testutil.StartServer(b) })
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
	pprof.Do(ctx, pprof.Labels("part", "agent"), func(ctx context.Context) { go func() { done <- ag.Run(ctx) }() })
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

// function creates the receipt function through the stock SDK (with env
// as its environment variables) and waits for its first answer (its
// environment is warm after).
func (e *endpoint) function(b *testing.B, name string, timeout int32, env map[string]string) {
	b.Helper()
	ctx := context.Background()
	in := &awslambda.CreateFunctionInput{FunctionName: aws.String(name), PackageType: lambdatypes.PackageTypeImage,
		Code: &lambdatypes.FunctionCode{ImageUri: aws.String(image)}, Role: aws.String("arn:aws:iam::000000000000:role/bench"),
		MemorySize: aws.Int32(128), Timeout: aws.Int32(timeout)}
	if env != nil {
		in.Environment = &lambdatypes.Environment{Variables: env}
	}
	if _, err := e.lc.CreateFunction(ctx, in); err != nil {
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

// procCPU is the CPU time this process (SDK clients, server and agent;
// not the handler's container) has used. Per invoke it is the figure the
// machine's load barely moves, unlike latencies and rates.
func procCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// containerCPU is the CPU time the function containers of this agent
// have used (the handler's own work, outside this process), read from
// their cgroups (v1 cpuacct or v2 cpu.stat); 0 where they cannot be read.
func (e *endpoint) containerCPU() time.Duration {
	out, err := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=orch.function-node="+e.node).Output()
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, id := range strings.Fields(string(out)) {
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpuacct/docker", id, "cpuacct.usage")); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			total += time.Duration(n)
			continue
		}
		for _, dir := range []string{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope", "/sys/fs/cgroup/docker/" + id} {
			b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
			if err != nil {
				continue
			}
			for line := range strings.SplitSeq(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					total += time.Duration(n) * time.Microsecond
				}
			}
			break
		}
	}
	return total
}

// resultPosts is how many batches of results the agent has posted to the
// server (from /metrics): per invoke, how well results are batched.
func (e *endpoint) resultPosts() int {
	resp, err := http.Get(e.cp.URL + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n := 0
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "orch_http_request_duration_seconds_count{") && strings.Contains(line, "/invocation-results\"") {
			v, _ := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			n += v
		}
	}
	return n
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
	e.function(b, "warm", 5, nil)
	ctx := context.Background()
	for range 200 { // warm the connections and the path
		if _, err := e.invoke(ctx, "warm"); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu0 := procCPU()
	for range b.N {
		d, err := e.invoke(ctx, "warm")
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
	}
	b.ReportMetric(ms(procCPU()-cpu0)/float64(b.N), "cpu-ms/invoke")
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
	e.function(b, "c16", 5, nil)
	benchC16(b, e, func(ctx context.Context) (time.Duration, error) { return e.invoke(ctx, "c16") })
}

// BenchmarkEndpointC16Lean: as BenchmarkEndpointC16 with the lean client
// (leanInvoker) instead of the SDK's: the second column, which shows what
// the server and agent sustain when the caller's CPU is not the SDK's.
func BenchmarkEndpointC16Lean(b *testing.B) {
	e := startEndpoint(b, 16)
	e.function(b, "c16", 5, nil)
	lean := newLeanInvoker(e.cp.URL, e.cp.Bootstrap.AWSAccessKeyID, e.cp.Bootstrap.AWSSecretAccessKey)
	payload := []byte(`{"echo":1}`)
	benchC16(b, e, func(ctx context.Context) (time.Duration, error) { return lean.invoke(ctx, "c16", payload) })
}

// benchC16 runs b.N invocations from 16 callers (after 500 to warm up) and
// reports the rate, latencies, this process's CPU per invoke and the
// handler containers' own.
func benchC16(b *testing.B, e *endpoint, invoke func(context.Context) (time.Duration, error)) {
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
					d, err := invoke(ctx)
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
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("part", "client")))
	warm(500)
	b.ResetTimer()
	start, cpu0, ccpu0, posts0 := time.Now(), procCPU(), e.containerCPU(), e.resultPosts()
	lat := warm(int64(b.N))
	el := time.Since(start)
	b.ReportMetric(ms(procCPU()-cpu0)/float64(b.N), "cpu-ms/invoke")
	b.StopTimer()
	b.ReportMetric(ms(e.containerCPU()-ccpu0)/float64(b.N), "handler-cpu-ms/invoke")
	b.ReportMetric(float64(len(lat))/el.Seconds(), "invokes/s")
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
	b.ReportMetric(float64(e.resultPosts()-posts0)/float64(b.N), "result-posts/invoke")
}

// BenchmarkEndpointColdStart: from zero environments (a configuration
// change replaces them) to the first response of the SDK's Invoke, beside
// `docker run --rm` of the same image to its first output, alternating in
// the same run. Before each docker run it waits for the retired
// environment's container to be gone (settle), so that Docker is not
// tearing it down during the baseline.
func BenchmarkEndpointColdStart(b *testing.B) {
	e := startEndpoint(b, 1)
	e.function(b, "cold", 5, nil)
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
		settle(b, "orch.function=cold", "orch.function-node="+e.node)

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

// sendN puts n orders on the queue through the SDK (batches of 10, from
// 8 senders: the setup between the timed drains is then short, which
// leaves room for more rounds in the same time).
func (e *endpoint) sendN(b *testing.B, url string, n int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(10)) - 10
				if i >= n || b.Failed() {
					return
				}
				var es []sqstypes.SendMessageBatchRequestEntry
				for j := 0; j < 10 && i+j < n; j++ {
					es = append(es, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)),
						MessageBody: aws.String(fmt.Sprintf(`{"id":"o%d","customer":"c","drink":"latte","price":3}`, i+j))})
				}
				out, err := e.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: es})
				if err != nil {
					b.Error(err)
					return
				}
				if len(out.Failed) > 0 {
					b.Errorf("%d of a batch not sent: %+v", len(out.Failed), out.Failed[0])
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
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
	v, f := e.counts(b, url)
	return v + f
}

// counts reads a queue's visible and in-flight messages.
func (e *endpoint) counts(b *testing.B, url string) (visible, inFlight int) {
	out, err := e.sqs.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		b.Fatal(err)
	}
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &visible)
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessagesNotVisible"], &inFlight)
	return visible, inFlight
}

// BenchmarkEndpointQueueTrigger: b.N orders already in a queue on the
// server, drained by an event source mapping (batch size 10,
// MaximumConcurrency 10, created with the stock SDK) into the handler;
// the baseline is the same number drained from another queue by 10 SDK
// consumers doing ReceiveMessage(10) + DeleteMessageBatch. Five rounds
// of both (ORCH_BENCH_TRIGGER_ROUNDS), interleaved (raw first, then the
// trigger first, and so on), each on fresh queues; ratio is the median of
// the rounds' ratios, which the machine's load moves less than either
// rate. make bench-functions drains 10,000 messages a side: at 5,000 a
// drain took 0.2-0.4 s on a quiet machine, where one scheduling hiccup
// moved a round, and three rounds let one such round move the median.
// The messages are sent by 8 senders at once, so the setup between the
// timed drains stays short.
//
// Two handlers, one sub-benchmark each, on the same server and agent:
// handler=quiet is the receipt handler with RECEIPT_QUIET=1, which decodes
// the event and checks every order as always but prints nothing, so it
// does the raw consumers' work (take the batch, report success): the
// figure issue 13's target is judged on. handler=receipts prints a
// receipt line per message, as the demo's does; those lines cost CPU in
// containerd's shim and dockerd's log driver (docker-cpu-us/msg: both
// daemons' CPU during the drain, other users of Docker included, and the
// function containers' shims'), which
// the raw consumers do not pay. Each checks its containers' logs after
// (no receipt from the quiet one, every order's from the other).
//
// Both clocks measure draining, not setting up: the raw clock runs from
// the consumers' start to the last delete; the trigger's from the first
// message the mapping takes (fewer than n visible, read every
// millisecond; the time before, the mapping's creation, an etcd commit and
// the pollers' start, is reported apart as trigger-start-ms) to the backlog (visible and in flight) at zero. The
// backlog is read with GetQueueAttributes, which costs the same whatever
// the queue holds, at most every 2-50 ms (a quarter of the time left at
// the rate so far); the native list of queues this used before scanned
// every message of the queue under its lock, every 5 ms, beside the
// pollers.
//
// CPU per message, per side and round: this process's (server, agent,
// and the SDK clients: the raw consumers, or the backlog reads) and the
// handler containers' (cgroups). On 2 cores both sides end up CPU-bound,
// so the ratio approaches raw-cpu / trigger-cpu. others-cores is how many
// cores other work kept busy during each side's drains (the whole
// machine's busy time from /proc/stat, less this process's, the handler
// containers' and Docker's): on a shared machine the rates, and with
// them the ratio, follow it (under cgroup v1 every container shares one
// CPU weight against each runnable host thread), so read the ratio
// beside it.
func BenchmarkEndpointQueueTrigger(b *testing.B) {
	e := startEndpoint(b, 10)
	e.function(b, "trigger", 5, map[string]string{"RECEIPT_QUIET": "1"})
	e.function(b, "trigger-receipts", 5, nil)
	b.Run("handler=quiet", func(b *testing.B) { e.benchTrigger(b, "trigger", false) })
	b.Run("handler=receipts", func(b *testing.B) { e.benchTrigger(b, "trigger-receipts", true) })
}

func (e *endpoint) benchTrigger(b *testing.B, fn string, receipts bool) {
	n := b.N
	rounds := triggerRounds(b)
	var raws, trigs, ratios, starts, rawCPU, trigCPU, trigHandlerCPU, rawDockerCPU, trigDockerCPU, rawOthers, trigOthers []float64
	perMsg := func(d time.Duration) float64 { return ms(d) * 1000 / float64(n) }
	b.ResetTimer()
	for r := range rounds {
		raw := e.queue(b, fmt.Sprintf("%s-raw-%d", fn, r))
		e.sendN(b, raw, n)
		srcName := fmt.Sprintf("%s-src-%d", fn, r)
		src := e.queue(b, srcName)
		e.sendN(b, src, n)
		var rawEl time.Duration
		var tr triggerRun
		runRaw := func() {
			// procCPU last before and first after: the others' reads
			// (/proc, docker ps) are not the side's CPU.
			dcpu0 := e.dockerCPU()
			busy0, t0 := machineCPU(), time.Now()
			cpu0 := procCPU()
			rawEl = e.drainRaw(b, raw, n)
			cpu := procCPU() - cpu0
			busy, wall := machineCPU()-busy0, time.Since(t0)
			dcpu := e.dockerCPU() - dcpu0
			rawCPU = append(rawCPU, perMsg(cpu))
			rawDockerCPU = append(rawDockerCPU, perMsg(dcpu))
			rawOthers = append(rawOthers, othersCores(busy-cpu-dcpu, wall))
		}
		runTrigger := func() {
			stop := profileTo(b, os.Getenv("ORCH_BENCH_TRIGGER_CPUPROFILE"), fn, r)
			ccpu0, dcpu0 := e.containerCPU(), e.dockerCPU()
			busy0, t0 := machineCPU(), time.Now()
			cpu0 := procCPU()
			tr = e.drainTrigger(b, fn, srcName, src, n)
			cpu := procCPU() - cpu0
			busy, wall := machineCPU()-busy0, time.Since(t0)
			stop()
			ccpu, dcpu := e.containerCPU()-ccpu0, e.dockerCPU()-dcpu0
			trigCPU = append(trigCPU, perMsg(cpu))
			trigHandlerCPU = append(trigHandlerCPU, perMsg(ccpu))
			trigDockerCPU = append(trigDockerCPU, perMsg(dcpu))
			trigOthers = append(trigOthers, othersCores(busy-cpu-ccpu-dcpu, wall))
		}
		if r%2 == 0 {
			runRaw()
			runTrigger()
		} else {
			runTrigger()
			runRaw()
		}
		raws = append(raws, float64(n)/rawEl.Seconds())
		trigs = append(trigs, float64(n)/tr.drain.Seconds())
		ratios = append(ratios, rawEl.Seconds()/tr.drain.Seconds())
		starts = append(starts, ms(tr.start))
	}
	b.StopTimer()
	e.checkReceipts(b, fn, receipts, rounds*n)
	if n > 1 {
		b.Logf("rounds: trigger %.0f msgs/s, raw %.0f msgs/s, ratio %.2f, trigger start %.1f ms; CPU µs/msg: raw %.0f, trigger %.0f + handler containers %.0f; dockerd+containerd µs/msg: raw %.0f, trigger %.0f; others' cores: raw %.2f, trigger %.2f",
			trigs, raws, ratios, starts, rawCPU, trigCPU, trigHandlerCPU, rawDockerCPU, trigDockerCPU, rawOthers, trigOthers)
	}
	b.ReportMetric(median(trigs), "trigger-msgs/s")
	b.ReportMetric(median(raws), "raw-msgs/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(starts), "trigger-start-ms")
	b.ReportMetric(median(rawCPU), "raw-cpu-us/msg")
	b.ReportMetric(median(trigCPU), "trigger-cpu-us/msg")
	b.ReportMetric(median(trigHandlerCPU), "handler-cpu-us/msg")
	b.ReportMetric(median(trigDockerCPU), "docker-cpu-us/msg")
	b.ReportMetric(median(rawOthers), "raw-others-cores")
	b.ReportMetric(median(trigOthers), "trigger-others-cores")
}

// checkReceipts reads the function's containers' logs: the quiet handler
// must have printed no receipt (the image has the RECEIPT_QUIET knob), the
// printing one at least one per order drained (at least once: a batch may
// run twice).
func (e *endpoint) checkReceipts(b *testing.B, fn string, printed bool, orders int) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.function-node="+e.node, "--filter", "label=orch.function="+fn).Output()
	if err != nil {
		b.Fatal(err)
	}
	lines := 0
	for _, id := range strings.Fields(string(out)) {
		logs, err := exec.Command("docker", "logs", id).Output()
		if err != nil {
			b.Fatal(err)
		}
		lines += strings.Count(string(logs), "RECEIPT order=")
	}
	if printed && lines < orders {
		b.Fatalf("%s printed %d receipts for %d orders", fn, lines, orders)
	}
	if !printed && lines > 0 {
		b.Fatalf("%s printed %d receipts with RECEIPT_QUIET=1 (is %s built from this tree? make images)", fn, lines, image)
	}
}

// dockerCPU is the CPU time dockerd and containerd, which every user of
// this Docker shares, and the shims of this agent's function containers
// have used (/proc), where a container's output goes through to its log
// driver. Other users' shims are left out: one that exits during a drain
// would take its CPU out of the sum.
func (e *endpoint) dockerCPU() time.Duration {
	out, _ := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=orch.function-node="+e.node).Output()
	ours := strings.Fields(string(out))
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var ticks int64
	for _, dir := range dirs {
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		switch comm := s[open+1 : end]; {
		case comm == "dockerd" || comm == "containerd":
		case strings.HasPrefix(comm, "containerd-shim"):
			cmd, _ := os.ReadFile(dir + "/cmdline") // ... -id CONTAINER ...
			if !slices.ContainsFunc(ours, func(id string) bool { return strings.Contains(string(cmd), id) }) {
				continue
			}
		default:
			continue
		}
		f := strings.Fields(s[end+1:]) // from field 3 (state): utime is field 14, stime 15
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// machineCPU is the CPU time the whole machine has spent busy (every
// core; /proc/stat's first line without idle and iowait).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for i, v := range f[1:min(len(f), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// othersCores is how many of the machine's cores work other than the
// side's (busy, over wall) kept busy on average: the interference one
// round of one side ran beside. Jiffies are coarse: small negatives
// become 0.
func othersCores(busy, wall time.Duration) float64 {
	return max(0, busy.Seconds()/wall.Seconds())
}

// profileTo writes a CPU profile of what runs until the returned stop to
// prefix-FUNCTION-ROUND.cpu when prefix is set (ORCH_BENCH_TRIGGER_CPUPROFILE: the
// trigger's drains alone, without the raw baseline's; run the benchmark
// without -cpuprofile then).
func profileTo(b *testing.B, prefix, fn string, round int) (stop func()) {
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s-%s-%d.cpu", prefix, fn, round))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// drainRaw empties the queue with 10 SDK consumers (receive 10, delete
// the batch) and returns the time to the last delete. The long polls
// still waiting then are cancelled, so that the drain ends there: an idle
// second of them would count in others-cores as the machine's other work.
func (e *endpoint) drainRaw(b *testing.B, url string, n int) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	var end atomic.Int64
	t0 := time.Now()
	for range 10 {
		wg.Go(func() {
			for left.Load() > 0 {
				out, err := e.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					if ctx.Err() == nil { // not the end's cancel
						b.Error(err)
					}
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				var del []sqstypes.DeleteMessageBatchRequestEntry
				for i, m := range out.Messages {
					del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				}
				if _, err := e.sqs.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
					b.Error(err)
					return
				}
				if left.Add(-int64(len(out.Messages))) <= 0 {
					end.CompareAndSwap(0, time.Now().UnixNano())
					cancel() // every message is deleted: end the others' long polls
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return time.Duration(end.Load() - t0.UnixNano())
}

// triggerRounds is how many interleaved rounds of raw and trigger each
// sub-benchmark runs: 5, or ORCH_BENCH_TRIGGER_ROUNDS (an odd figure, so
// that the median is one round's). See BenchmarkEndpointQueueTrigger for
// why 5.
func triggerRounds(b *testing.B) int {
	v := os.Getenv("ORCH_BENCH_TRIGGER_ROUNDS")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 99 || n%2 == 0 {
		b.Fatalf("ORCH_BENCH_TRIGGER_ROUNDS=%q: want an odd number of rounds from 1 to 99", v)
	}
	return n
}

// triggerScaling is the mapping's ScalingConfig: MaximumConcurrency 10,
// as many pollers as the baseline's consumers, unless
// ORCH_BENCH_TRIGGER_CONCURRENCY says another figure, or "default" for
// none (Lambda's default: five pollers, more with a backlog).
func triggerScaling(b *testing.B) *lambdatypes.ScalingConfig {
	v := os.Getenv("ORCH_BENCH_TRIGGER_CONCURRENCY")
	switch v {
	case "":
		return &lambdatypes.ScalingConfig{MaximumConcurrency: aws.Int32(10)}
	case "default":
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 || n > 1000 {
		b.Fatalf("ORCH_BENCH_TRIGGER_CONCURRENCY=%q: want a MaximumConcurrency from 2 to 1000, or default", v)
	}
	return &lambdatypes.ScalingConfig{MaximumConcurrency: aws.Int32(int32(n))}
}

// triggerRun: how long a mapping took to take its first message after
// CreateEventSourceMapping was called, and from then to an empty queue.
type triggerRun struct{ start, drain time.Duration }

// drainTrigger creates the mapping from the queue (name, url; n messages)
// to the function fn, waits until the queue is empty (every batch run and
// deleted), returns the times (see BenchmarkEndpointQueueTrigger), and
// deletes the mapping.
func (e *endpoint) drainTrigger(b *testing.B, fn, queue, url string, n int) triggerRun {
	ctx := context.Background()
	t0 := time.Now()
	m, err := e.lc.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String(fn),
		EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:" + queue), BatchSize: aws.Int32(10),
		ScalingConfig:         triggerScaling(b),
		FunctionResponseTypes: []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures}})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	var first time.Time
	for {
		visible, inFlight := e.counts(b, url)
		left := visible + inFlight // nothing here is delayed
		now := time.Now()
		if first.IsZero() {
			// The first receive: as the raw clock starts right before
			// its consumers' first receive.
			if visible < n {
				first = now
			} else {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		if left == 0 {
			break
		}
		if now.After(deadline) {
			b.Fatalf("queue %s: %d messages left after 5 minutes", queue, left)
		}
		// A quarter of the time left at the rate so far, within 2-50 ms.
		wait := 50 * time.Millisecond
		if done := n - left; done > 0 {
			wait = min(wait, max(2*time.Millisecond, now.Sub(first)*time.Duration(left)/time.Duration(done)/4))
		}
		time.Sleep(wait)
	}
	run := triggerRun{start: first.Sub(t0), drain: time.Since(first)}
	if _, err := e.lc.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: m.UUID}); err != nil {
		b.Fatal(err)
	}
	return run
}

// BenchmarkEndpointQueueLatency: orders sent through the SDK at 500/s for
// b.N messages, 10 % of them not orders (reported as batch item failures,
// left to the redrive policy's dead-letter queue); the latency is from the
// send to the handler printing the order's receipt (the container log's
// timestamp, read with docker logs -t). Every order must get its receipt
// and every bad message must reach the dead-letter queue.
func BenchmarkEndpointQueueLatency(b *testing.B) {
	e := startEndpoint(b, 10)
	e.function(b, "lat", 5, nil)
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
