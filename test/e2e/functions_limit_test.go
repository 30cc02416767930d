package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orch-project/orch/internal/testutil"
)

// maxOverlap is the most of the intervals that contain one instant.
func maxOverlap(iv [][2]time.Time) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var es []edge
	for _, v := range iv {
		es = append(es, edge{v[0], 1}, edge{v[1], -1})
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].at.Equal(es[j].at) {
			return es[i].delta < es[j].delta // an end before a start at the same instant
		}
		return es[i].at.Before(es[j].at)
	})
	n, m := 0, 0
	for _, e := range es {
		n += e.delta
		m = max(m, n)
	}
	return m
}

// isReservedThrottle reports whether err is Lambda's answer to a call over
// a function's reserved concurrency: 429 TooManyRequestsException with
// Reason ReservedFunctionConcurrentInvocationLimitExceeded.
func isReservedThrottle(err error) bool {
	var tm *lambdatypes.TooManyRequestsException
	var re *awshttp.ResponseError
	return errors.As(err, &tm) && tm.Reason == lambdatypes.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded &&
		errors.As(err, &re) && re.HTTPStatusCode() == 429
}

// TestFunctionsConcurrencyAcrossReplicas: two server replicas on one
// external etcd, and one Docker agent attached to each replica only, so
// each replica runs calls on its own agent and the agents' own caps
// cannot hide a limit counted per replica (pkg/api/lambda's
// TestReservedConcurrencyHoldsAcrossReplicas is the negative control:
// without the slot hand-over the same load runs twice the limit). A
// function with ReservedConcurrentExecutions 5 and a handler that sleeps
// 6 s gets 64 concurrent calls spread over both replicas through the
// stock SDK: at most 5 run at once (the calls' own time spans, which
// contain their runs, never overlap more than 5 deep), the others are
// 429 TooManyRequestsException with Lambda's reason, counted in `orch
// usage`; no environment ever ran more than its AWS_LAMBDA_MAX_CONCURRENCY
// (2) at once (the handler reports its process's peak). Then the replica
// that does not count the function's slots is killed with SIGKILL while
// its calls hold all 5: the slots are not leaked, the owner takes calls
// again once they expire (the function's timeout + the cold-start margin
// + 5 s).
func TestFunctionsConcurrencyAcrossReplicas(t *testing.T) {
	needDocker(t)
	if err := exec.Command("docker", "image", "inspect", receiptImage).Run(); err != nil {
		t.Fatalf("image %s is missing: run `make images` first", receiptImage)
	}
	etcd := startEtcd(t)
	c := newCluster(t)
	procs := []*proc{startServer(t, c, "--etcd-endpoints", etcd), startServer(t, c, "--etcd-endpoints", etcd)}
	suffix := time.Now().UnixNano() % 1e9
	const perEnv = 2
	for i := range 2 {
		node := fmt.Sprintf("fnlimit-%d-%d", i, suffix)
		// The later --server wins: this agent serves replica i only.
		c.startAgent(t, node, "--server", c.urls[i], "--runtime", "docker", "--listen", freeAddr(t),
			"--function-idle-timeout", "10m", "--function-concurrency", fmt.Sprint(perEnv))
		t.Cleanup(func() { removeFunctionContainers(node) })
	}
	waitNodes(t, c, 2)
	ctx := context.Background()
	lcs := []*awslambda.Client{lambdaClientAt(c, c.urls[0]), lambdaClientAt(c, c.urls[1])}
	const fn, limit = "limit-ha", 5
	createReceipt(t, lcs[0], fn, 10, aws.Int32(limit))
	for _, lc := range lcs { // an environment warm on each agent
		invokeWhenReady(t, lc, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"echo":"warm"}`)})
	}

	// 64 calls at once, alternating between the replicas.
	type outcome struct {
		span [2]time.Time
		out  *awslambda.InvokeOutput
		err  error
	}
	results := make([]outcome, 64)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			began := time.Now()
			out, err := lcs[i%2].Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"sleepMs":6000}`)})
			results[i] = outcome{span: [2]time.Time{began, time.Now()}, out: out, err: err}
		})
	}
	close(start)
	wg.Wait()
	var spans [][2]time.Time
	ok, throttled := 0, 0
	for i, r := range results {
		switch {
		case r.err == nil && r.out.FunctionError == nil:
			ok++
			spans = append(spans, r.span)
			var ans struct{ Peak int }
			if err := json.Unmarshal(r.out.Payload, &ans); err != nil || ans.Peak < 1 {
				t.Fatalf("call %d answered %s, want the handler's peak", i, r.out.Payload)
			}
			if ans.Peak > perEnv {
				t.Errorf("call %d: its environment ran %d invocations at once; the agent's cap per environment is %d", i, ans.Peak, perEnv)
			}
		case isReservedThrottle(r.err):
			throttled++
		case r.err != nil:
			t.Fatalf("call %d via replica %d failed otherwise than throttled: %v", i, i%2, r.err)
		default:
			t.Fatalf("call %d via replica %d: function error %s: %s", i, i%2, aws.ToString(r.out.FunctionError), r.out.Payload)
		}
	}
	if ok+throttled != 64 || ok == 0 || throttled == 0 {
		t.Fatalf("%d succeeded, %d throttled: want 64 in all, some of each", ok, throttled)
	}
	if m := maxOverlap(spans); m > limit {
		t.Fatalf("%d calls ran at once over two replicas with ReservedConcurrentExecutions %d", m, limit)
	}
	t.Logf("%d succeeded, %d throttled (429 with the reserved-concurrency reason)", ok, throttled)
	testutil.WaitFor(t, 10*time.Second, "the throttles in orch usage", func() (bool, string) {
		n := usageOn(t, c, c.urls[0], fn).Throttles + usageOn(t, c, c.urls[1], fn).Throttles
		return n == int64(throttled), fmt.Sprintf("%d throttles metered over the replicas, want %d", n, throttled)
	})

	// Which replica counts the function's slots: the owner of the queue
	// shard its name falls in, the same as a queue of its name.
	sq := sqsClient(c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	if _, err := sq.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(fn)}); err != nil {
		t.Fatal(err)
	}
	owners := (&shardFleet{c: c, queues: []string{fn}}).waitStable(t, c.urls[0])
	oi := slices.Index(c.urls, owners[fn])
	if oi < 0 {
		t.Fatalf("the function's shard owner %q is none of %v", owners[fn], c.urls)
	}
	other := 1 - oi

	// The other replica's calls hold every slot (each tries again while
	// a probe below holds one); it is killed.
	for range limit {
		go func() {
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
				_, err := lcs[other].Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"sleepMs":6000}`)})
				if !isReservedThrottle(err) {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	testutil.WaitFor(t, 30*time.Second, "the other replica's calls holding every slot", func() (bool, string) {
		_, err := lcs[oi].Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"echo":"probe"}`)})
		if err == nil {
			time.Sleep(200 * time.Millisecond)
			return false, "a call through the owner ran: the slots are not all taken yet"
		}
		return isReservedThrottle(err), fmt.Sprint(err)
	})
	procs[other].kill(syscall.SIGKILL)
	killed := time.Now()
	// The dead replica's slots expire 10 s (timeout) + 15 s (cold-start
	// margin) + 5 s after they were taken: calls run again by then.
	testutil.WaitFor(t, 60*time.Second, "a call through the owner after the slot holder died", func() (bool, string) {
		out, err := lcs[oi].Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"echo":"after"}`)})
		if err == nil && out.FunctionError == nil {
			return true, ""
		}
		if err != nil && !isReservedThrottle(err) {
			t.Fatalf("a call through the owner after the kill: %v, want success or a throttle", err)
		}
		time.Sleep(500 * time.Millisecond)
		return false, fmt.Sprint(err)
	})
	t.Logf("the dead replica's slots were free %s after the kill", time.Since(killed).Round(time.Second))
}
