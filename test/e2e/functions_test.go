package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/orch-project/orch/pkg/api/wire"
)

const receiptImage = "orch-example/receipt:latest"

// functionCluster is orch server + one orchlet on Docker that runs
// function environments (idle ones stop after fnIdle), with the function
// containers removed at the end.
func functionCluster(t *testing.T, fnIdle string, serverArgs ...string) (*cluster, string, *proc) {
	t.Helper()
	needDocker(t)
	if err := exec.Command("docker", "image", "inspect", receiptImage).Run(); err != nil {
		t.Fatalf("image %s is missing: run `make images` first", receiptImage)
	}
	c := newCluster(t)
	startServer(t, c, append([]string{"--data-dir", t.TempDir()}, serverArgs...)...)
	node := fmt.Sprintf("e2e-fn-%d", time.Now().UnixNano()%1e9)
	ag := c.startAgent(t, node, "--runtime", "docker", "--listen", freeAddr(t), "--function-idle-timeout", fnIdle)
	t.Cleanup(func() { removeFunctionContainers(node) })
	waitNodes(t, c, 1)
	return c, node, ag
}

func removeFunctionContainers(node string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.function-node="+node).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

func functionContainers(t *testing.T, node string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=orch.function-node="+node).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// lambdaClient is the stock SDK client on the cluster's endpoint; retries
// off so throttles and failures are seen as they are.
func lambdaClient(c *cluster) *awslambda.Client {
	return awslambda.New(awslambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(c.urls[0]), RetryMaxAttempts: 1, HTTPClient: e2eHTTP,
		Credentials: credentials.NewStaticCredentialsProvider(c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey, ""),
	})
}

// lambdaCLI runs Debian's `aws lambda ARGS` and decodes its JSON answer.
func lambdaCLI(t *testing.T, c *cluster, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", c.urls[0], "--output", "json", "lambda"}, args...)...)
	cmd.Env = awsEnv(c)
	b, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("aws lambda %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("aws lambda %s: %v", strings.Join(args, " "), err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("aws lambda %s: %v\n%s", args[0], err, b)
		}
	}
}

func createReceipt(t *testing.T, lc *awslambda.Client, name string, timeout int32, reserved *int32) {
	t.Helper()
	_, err := lc.CreateFunction(context.Background(), &awslambda.CreateFunctionInput{
		FunctionName: aws.String(name), PackageType: lambdatypes.PackageTypeImage,
		Code: &lambdatypes.FunctionCode{ImageUri: aws.String(receiptImage)}, Role: aws.String("arn:aws:iam::000000000000:role/fn"),
		Timeout: aws.Int32(timeout), MemorySize: aws.Int32(128),
	})
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	if reserved != nil {
		if _, err := lc.PutFunctionConcurrency(context.Background(), &awslambda.PutFunctionConcurrencyInput{
			FunctionName: aws.String(name), ReservedConcurrentExecutions: reserved}); err != nil {
			t.Fatalf("PutFunctionConcurrency: %v", err)
		}
	}
}

// invokeWhenReady invokes until the agent's invocation stream is attached
// (the first call after the agent joined may find none yet).
func invokeWhenReady(t *testing.T, lc *awslambda.Client, in *awslambda.InvokeInput) *awslambda.InvokeOutput {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := lc.Invoke(context.Background(), in)
		if err == nil {
			return out
		}
		var se *lambdatypes.ServiceException
		if !errors.As(err, &se) || time.Now().After(deadline) {
			t.Fatalf("Invoke %s: %v", aws.ToString(in.FunctionName), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func decodeTail(t *testing.T, s *string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(aws.ToString(s))
	if err != nil {
		t.Fatalf("LogResult is not base64: %v", err)
	}
	return string(b)
}

// TestFunctionsDocker runs the stock aws-lambda-go image through the stock
// SDK and Debian's awscli 2.9: both invocation types, logs, a panic, a
// timeout, the concurrency limit under 64 concurrent calls, scale to zero
// and the cold start after it, and bad input.
func TestFunctionsDocker(t *testing.T) {
	needTool(t, "Debian's awscli 2.9", "apt-get install awscli", exec.Command(awsCLI, "--version").Run() == nil)
	c, node, _ := functionCluster(t, "4s")
	lc := lambdaClient(c)
	ctx := context.Background()
	createReceipt(t, lc, "receipt", 2, nil)

	t.Run("RequestResponse with the SDK, LogType Tail", func(t *testing.T) {
		out := invokeWhenReady(t, lc, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), LogType: lambdatypes.LogTypeTail,
			Payload: []byte(`{"id":"o-1","customer":"ann","drink":"latte","price":3.5}`)})
		if out.StatusCode != 200 || out.FunctionError != nil {
			t.Fatalf("status %d, function error %v: %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
		if !strings.Contains(string(out.Payload), "RECEIPT order=o-1 customer=ann drink=latte total=3.50") {
			t.Fatalf("payload = %s, want the receipt", out.Payload)
		}
		logs := decodeTail(t, out.LogResult)
		if !strings.Contains(logs, "START RequestId:") || !strings.Contains(logs, "REPORT RequestId:") || !strings.Contains(logs, "Billed Duration:") {
			t.Fatalf("LogResult = %q, want START ... REPORT lines", logs)
		}
		// Max Memory Used: the environment's peak from its memory cgroup,
		// within MemorySize (128 MB, the container's limit).
		m := regexp.MustCompile(`\tMax Memory Used: (\d+) MB`).FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("REPORT line without Max Memory Used: %q", logs)
		}
		if mb, _ := strconv.Atoi(m[1]); mb < 1 || mb > 128 {
			t.Fatalf("Max Memory Used: %d MB, want 1..128 (MemorySize)", mb)
		}
	})

	t.Run("Debian awscli get, list and invoke", func(t *testing.T) {
		var got struct {
			Configuration struct{ FunctionName, FunctionArn, PackageType string }
			Code          struct{ ImageUri string }
		}
		lambdaCLI(t, c, &got, "get-function", "--function-name", "receipt")
		if got.Configuration.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:receipt" || got.Code.ImageUri != receiptImage {
			t.Fatalf("get-function = %+v", got)
		}
		var list struct {
			Functions []struct{ FunctionName string }
		}
		lambdaCLI(t, c, &list, "list-functions")
		if len(list.Functions) != 1 || list.Functions[0].FunctionName != "receipt" {
			t.Fatalf("list-functions = %+v", list)
		}
		outFile := t.TempDir() + "/out.json"
		var inv struct {
			StatusCode    int
			FunctionError string
		}
		lambdaCLI(t, c, &inv, "invoke", "--function-name", "receipt", "--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"echo":{"from":"awscli"}}`, outFile)
		b, _ := exec.Command("cat", outFile).Output()
		if inv.StatusCode != 200 || inv.FunctionError != "" || strings.TrimSpace(string(b)) != `{"from":"awscli"}` {
			t.Fatalf("aws lambda invoke: %+v, payload %s", inv, b)
		}
		lambdaCLI(t, c, &inv, "invoke", "--function-name", "receipt", "--invocation-type", "Event", "--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"echo":"event from awscli"}`, outFile)
		if inv.StatusCode != 202 {
			t.Fatalf("aws lambda invoke --invocation-type Event: status %d, want 202", inv.StatusCode)
		}
	})

	t.Run("Event runs later, DryRun checks", func(t *testing.T) {
		out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), InvocationType: lambdatypes.InvocationTypeEvent,
			Payload: []byte(`{"id":"o-2","customer":"bob","drink":"tea","price":2}`)})
		if err != nil || out.StatusCode != 202 {
			t.Fatalf("Event: %v, status %v", err, out)
		}
		// The request id is in the response metadata; the function's log
		// on the server shows its REPORT line once it ran.
		deadline := time.Now().Add(30 * time.Second)
		for {
			logs := c.mustOrch(t, "logs", "function", "receipt")
			if strings.Count(logs, "REPORT RequestId:") >= 3 { // the earlier two calls and the Event (awscli's Event may add one)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Event invocation did not run within 30s; log:\n%s", logs)
			}
			time.Sleep(200 * time.Millisecond)
		}
		dry, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), InvocationType: lambdatypes.InvocationTypeDryRun})
		if err != nil || dry.StatusCode != 204 {
			t.Fatalf("DryRun: %v, %+v", err, dry)
		}
	})

	t.Run("panic and timeout are function errors; the next call works", func(t *testing.T) {
		out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), Payload: []byte(`{"panic":"boom"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), `"errorMessage":"boom"`) {
			t.Fatalf("panic: FunctionError %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
		out, err = lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), Payload: []byte(`{"sleepMs":4000}`)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "Task timed out after 2.00 seconds") {
			t.Fatalf("timeout: FunctionError %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
		}
		out, err = lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), Payload: []byte(`{"echo":"after"}`)})
		if err != nil || out.FunctionError != nil || string(out.Payload) != `"after"` {
			t.Fatalf("after the failures: %v, %s", err, out.Payload)
		}
	})

	t.Run("reserved concurrency holds under 64 concurrent invokes", func(t *testing.T) {
		createReceipt(t, lc, "limited", 10, aws.Int32(4))
		invokeWhenReady(t, lc, &awslambda.InvokeInput{FunctionName: aws.String("limited"), Payload: []byte(`{}`)})
		var (
			mu                  sync.Mutex
			ok, throttled       int
			other               []error
			lastStart, firstEnd time.Time
		)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 64; i++ {
			wg.Go(func() {
				<-start
				began := time.Now()
				out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("limited"), Payload: []byte(`{"sleepMs":3000}`)})
				mu.Lock()
				defer mu.Unlock()
				if began.After(lastStart) {
					lastStart = began
				}
				var tm *lambdatypes.TooManyRequestsException
				switch {
				case err == nil && out.FunctionError == nil:
					ok++
					if firstEnd.IsZero() || time.Now().Before(firstEnd) {
						firstEnd = time.Now()
					}
				case errors.As(err, &tm):
					throttled++
				default:
					other = append(other, fmt.Errorf("%v %s", err, func() string {
						if out != nil {
							return string(out.Payload)
						}
						return ""
					}()))
				}
			})
		}
		close(start)
		wg.Wait()
		if len(other) > 0 {
			t.Fatalf("%d calls failed otherwise than throttled: %v", len(other), other[0])
		}
		if ok < 4 || throttled == 0 || ok+throttled != 64 {
			t.Fatalf("%d succeeded, %d throttled: want at least 4 and some TooManyRequestsException", ok, throttled)
		}
		// Calls all made before the first answer: never more than the 4
		// reserved ran.
		if lastStart.Before(firstEnd) && ok != 4 {
			t.Fatalf("%d calls succeeded at once with ReservedConcurrentExecutions 4", ok)
		}
	})

	t.Run("scale to zero, then a cold start", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		for len(functionContainers(t, node)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("function environments still running 60s after the last call (idle timeout 4s): %v", functionContainers(t, node))
			}
			time.Sleep(250 * time.Millisecond)
		}
		out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), LogType: lambdatypes.LogTypeTail, Payload: []byte(`{"echo":1}`)})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("cold invoke: %v %s", err, out.Payload)
		}
		if logs := decodeTail(t, out.LogResult); !strings.Contains(logs, "Init Duration:") {
			t.Fatalf("the first call after scale to zero reports no Init Duration: %q", logs)
		}
		if n := len(functionContainers(t, node)); n != 1 {
			t.Fatalf("%d environments after one cold call, want 1", n)
		}
	})

	t.Run("queue trigger with a partial batch failure", func(t *testing.T) {
		sq := sqsClient(c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
		q, err := sq.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("fn-orders"),
			Attributes: map[string]string{"VisibilityTimeout": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		arn := "arn:aws:sqs:us-east-1:000000000000:fn-orders"
		// The queue's visibility timeout (1 s) is under the function's (2 s): refused with the reason.
		_, err = lc.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("receipt"), EventSourceArn: aws.String(arn)})
		var ip *lambdatypes.InvalidParameterValueException
		if !errors.As(err, &ip) || !strings.Contains(err.Error(), "visibility timeout") {
			t.Fatalf("mapping with a short visibility timeout: %v, want InvalidParameterValueException about it", err)
		}
		if _, err := sq.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: q.QueueUrl, Attributes: map[string]string{"VisibilityTimeout": "30"}}); err != nil {
			t.Fatal(err)
		}
		m, err := lc.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("receipt"), EventSourceArn: aws.String(arn),
			BatchSize: aws.Int32(10), FunctionResponseTypes: []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 9; i++ {
			body := fmt.Sprintf(`{"id":"q-%d","customer":"c%d","drink":"mocha","price":4}`, i, i)
			if i == 4 {
				body = "not an order"
			}
			if _, err := sq.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
		// The 8 orders are deleted; the rejected one stays in flight (it
		// reappears after the visibility timeout).
		deadline := time.Now().Add(60 * time.Second)
		for {
			a, err := sq.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			if a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue attributes after 60s: %v; want 0 visible and 1 in flight (the rejected message)", a.Attributes)
			}
			time.Sleep(300 * time.Millisecond)
		}
		var list struct {
			EventSourceMappings []struct{ UUID, State string }
		}
		lambdaCLI(t, c, &list, "list-event-source-mappings", "--function-name", "receipt")
		if len(list.EventSourceMappings) != 1 || list.EventSourceMappings[0].UUID != aws.ToString(m.UUID) {
			t.Fatalf("list-event-source-mappings = %+v", list)
		}
		if _, err := lc.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: m.UUID}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("queue trigger created with Debian's awscli", func(t *testing.T) {
		sq := sqsClient(c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
		q, err := sq.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("fn-cli-orders"),
			Attributes: map[string]string{"VisibilityTimeout": "30"}})
		if err != nil {
			t.Fatal(err)
		}
		before := strings.Count(c.mustOrch(t, "logs", "function", "receipt"), "REPORT RequestId:")
		var m struct {
			UUID, State, EventSourceArn, FunctionArn string
			BatchSize                                int
			FunctionResponseTypes                    []string
		}
		lambdaCLI(t, c, &m, "create-event-source-mapping", "--function-name", "receipt",
			"--event-source-arn", "arn:aws:sqs:us-east-1:000000000000:fn-cli-orders", "--batch-size", "5",
			"--function-response-types", "ReportBatchItemFailures")
		if m.UUID == "" || m.BatchSize != 5 || !strings.HasSuffix(m.FunctionArn, ":function:receipt") ||
			len(m.FunctionResponseTypes) != 1 || m.FunctionResponseTypes[0] != "ReportBatchItemFailures" {
			t.Fatalf("create-event-source-mapping answered %+v", m)
		}
		for i := range 12 {
			body := fmt.Sprintf(`{"id":"cli-%d","customer":"c","drink":"latte","price":3}`, i)
			if _, err := sq.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
		// Every order handled and deleted: in batches of at most 5, so at
		// least 3 invocations.
		deadline := time.Now().Add(60 * time.Second)
		for {
			a, err := sq.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			if a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue attributes after 60s: %v; want every order deleted", a.Attributes)
			}
			time.Sleep(300 * time.Millisecond)
		}
		if n := strings.Count(c.mustOrch(t, "logs", "function", "receipt"), "REPORT RequestId:") - before; n < 3 {
			t.Fatalf("%d invocations for 12 orders in batches of 5, want at least 3", n)
		}
		var del struct{ UUID, State string }
		lambdaCLI(t, c, &del, "delete-event-source-mapping", "--uuid", m.UUID)
		if del.UUID != m.UUID || del.State != "Deleting" {
			t.Fatalf("delete-event-source-mapping answered %+v", del)
		}
	})

	t.Run("topic subscription with protocol lambda", func(t *testing.T) {
		before := strings.Count(c.mustOrch(t, "logs", "function", "receipt"), "REPORT RequestId:")
		out, code := c.orch(t, "kind: Topic\nName: fn-news\nsubscriptions:\n  - Protocol: lambda\n    Endpoint: arn:aws:lambda:us-east-1:000000000000:function:receipt\n", "apply", "-f", "-")
		if code != 0 {
			t.Fatalf("apply topic: %s", out)
		}
		c.mustOrch(t, "topic", "publish", "fn-news", "--message", `{"id":"t-1"}`)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var topics []wire.TopicView
			if err := json.Unmarshal([]byte(c.orchStdout(t, "get", "topics", "fn-news", "-o", "json")), &topics); err != nil {
				t.Fatal(err)
			}
			logs := c.mustOrch(t, "logs", "function", "receipt")
			if len(topics) == 1 && len(topics[0].Subscriptions) == 1 && topics[0].Subscriptions[0].Delivered == 1 &&
				strings.Count(logs, "REPORT RequestId:") > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the published message did not invoke the function within 30s: topics %+v", topics)
			}
			time.Sleep(300 * time.Millisecond)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		_, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("nope")})
		var nf *lambdatypes.ResourceNotFoundException
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("invoke of a missing function: %v, want ResourceNotFoundException naming it", err)
		}
		_, err = lc.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("small"), PackageType: lambdatypes.PackageTypeImage,
			Code: &lambdatypes.FunctionCode{ImageUri: aws.String(receiptImage)}, Role: aws.String("r"), MemorySize: aws.Int32(64)})
		var ip *lambdatypes.InvalidParameterValueException
		if !errors.As(err, &ip) || !strings.Contains(err.Error(), "MemorySize") {
			t.Fatalf("MemorySize 64: %v, want InvalidParameterValueException naming MemorySize", err)
		}
		_, err = lc.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("receipt"), PackageType: lambdatypes.PackageTypeImage,
			Code: &lambdatypes.FunctionCode{ImageUri: aws.String(receiptImage)}, Role: aws.String("r")})
		var rc *lambdatypes.ResourceConflictException
		if !errors.As(err, &rc) {
			t.Fatalf("duplicate name: %v, want ResourceConflictException", err)
		}
		_, err = lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), Payload: []byte(`{not json`)})
		var ic *lambdatypes.InvalidRequestContentException
		if !errors.As(err, &ic) {
			t.Fatalf("invalid JSON payload: %v, want InvalidRequestContentException", err)
		}
		_, err = lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), Payload: []byte(`"` + strings.Repeat("x", 7<<20) + `"`)})
		var tl *lambdatypes.RequestTooLargeException
		if !errors.As(err, &tl) {
			t.Fatalf("7 MB payload: %v, want RequestTooLargeException", err)
		}
		// A missing image: the invocation fails clearly.
		_, err = lc.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("noimage"), PackageType: lambdatypes.PackageTypeImage,
			Code: &lambdatypes.FunctionCode{ImageUri: aws.String("orch-example/does-not-exist:e2e")}, Role: aws.String("r")})
		if err != nil {
			t.Fatal(err)
		}
		out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("noimage")})
		if err != nil || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "does-not-exist") {
			t.Fatalf("missing image: %v, %s; want an Unhandled error naming the image", err, out.Payload)
		}
		if _, err := lc.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("noimage")}); err != nil {
			t.Fatal(err)
		}
		if _, err := lc.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("noimage")}); !errors.As(err, &nf) {
			t.Fatalf("get after delete: %v, want ResourceNotFoundException", err)
		}
	})
}

// TestFunctionEventDurable: Event invocations acknowledged with 202 run
// after the server is killed with SIGKILL and started again, and one that
// keeps failing is retried twice, then lands in the dead-letter queue.
func TestFunctionEventDurable(t *testing.T) {
	addr := freeAddr(t)
	dataDir := t.TempDir()
	c, _, ag := functionCluster(t, "30s", "--listen", addr, "--data-dir", dataDir, "--function-retry-delay", "500ms")
	lc := lambdaClient(c)
	ctx := context.Background()
	createReceipt(t, lc, "receipt", 3, nil)
	invokeWhenReady(t, lc, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), Payload: []byte(`{}`)})

	// Stop the agent: Events are stored and wait (no agent is no attempt).
	ag.kill(syscall.SIGKILL)
	ag.wait(t, 10*time.Second)
	ids := map[string]bool{}
	for i := 0; i < 5; i++ {
		out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), InvocationType: lambdatypes.InvocationTypeEvent,
			Payload: []byte(fmt.Sprintf(`{"echo":%d}`, i))})
		if err != nil || out.StatusCode != 202 {
			t.Fatalf("Event %d: %v", i, err)
		}
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		ids[id] = true
	}
	// Kill the server and start it again on the same address and data.
	srv := c.procs[0]
	srv.kill(syscall.SIGKILL)
	srv.wait(t, 10*time.Second)
	c.urls, c.procs = nil, nil
	startServer(t, c, "--listen", addr, "--data-dir", dataDir, "--function-retry-delay", "500ms")
	node2 := fmt.Sprintf("e2e-fn2-%d", time.Now().UnixNano()%1e9)
	c.startAgent(t, node2, "--runtime", "docker", "--listen", freeAddr(t))
	t.Cleanup(func() { removeFunctionContainers(node2) })

	deadline := time.Now().Add(90 * time.Second)
	for {
		logs := c.mustOrch(t, "logs", "function", "receipt")
		ran := 0
		for id := range ids {
			if strings.Contains(logs, "REPORT RequestId: "+id) {
				ran++
			}
		}
		if ran == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged Event invocations ran after kill -9 of the server; log:\n%s", ran, len(ids), logs)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Retries and the dead-letter queue.
	sq := sqsClient(c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	q, err := sq.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("receipt-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("receipt"),
		DeadLetterConfig: &lambdatypes.DeadLetterConfig{TargetArn: aws.String("arn:aws:sqs:us-east-1:000000000000:receipt-dlq")}}); err != nil {
		t.Fatal(err)
	}
	out, err := lc.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("receipt"), InvocationType: lambdatypes.InvocationTypeEvent,
		Payload: []byte(`{"fail":"always"}`)})
	if err != nil {
		t.Fatal(err)
	}
	failID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	deadline = time.Now().Add(90 * time.Second)
	for {
		msgs, err := sq.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 2, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs.Messages) > 0 {
			m := msgs.Messages[0]
			if aws.ToString(m.Body) != `{"fail":"always"}` || aws.ToString(m.MessageAttributes["RequestID"].StringValue) != failID {
				t.Fatalf("dead letter: body %q attributes %v, want the payload and RequestID %s", aws.ToString(m.Body), m.MessageAttributes, failID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failing Event invocation reached no dead-letter queue within 90s")
		}
	}
	if n := strings.Count(c.mustOrch(t, "logs", "function", "receipt"), "REPORT RequestId: "+failID); n != 3 {
		t.Fatalf("the failing Event invocation ran %d times, want 3 (the first try and 2 retries)", n)
	}
}
