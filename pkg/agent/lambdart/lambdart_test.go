package lambdart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// handlerBin is examples/apps/receipt, a real aws-lambda-go handler
// (lambda.Start), built once for the package's tests.
var handlerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdart-test")
	if err != nil {
		panic(err)
	}
	handlerBin = filepath.Join(dir, "receipt")
	cmd := exec.Command("go", "build", "-o", handlerBin, "../../../examples/apps/receipt")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the receipt handler:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startEnv opens an environment and starts the handler process against it.
func startEnv(t *testing.T, maxConc int) (*Env, *exec.Cmd, chan struct{}) {
	t.Helper()
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(handlerBin)
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + env.Address(""),
		"AWS_LAMBDA_FUNCTION_NAME=receipts",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		fmt.Sprintf("AWS_LAMBDA_MAX_CONCURRENCY=%d", maxConc),
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		env.Close("test over")
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("handler output:\n%s", out.String())
		}
	})
	return env, cmd, exited
}

func invoke(t *testing.T, env *Env, payload string, timeout time.Duration) Result {
	t.Helper()
	r, err := env.Invoke(context.Background(), Invocation{Payload: []byte(payload), Deadline: time.Now().Add(timeout), FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:receipts"})
	if err != nil {
		t.Fatalf("Invoke(%s): %v", payload, err)
	}
	return r
}

func TestInvokeAnswersWithTheHandlersResponse(t *testing.T) {
	env, _, _ := startEnv(t, 1)
	r, err := env.Invoke(context.Background(), Invocation{ID: "req-1", Payload: []byte(`{"id":"o1","customer":"ana","drink":"flat white","price":3.5}`), Deadline: time.Now().Add(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if r.FunctionError != "" {
		t.Fatalf("FunctionError %q, payload %s", r.FunctionError, r.Payload)
	}
	var got struct {
		Receipt, RequestID, Function string
		MemoryMB                     int
	}
	if err := json.Unmarshal(r.Payload, &got); err != nil {
		t.Fatalf("response %s: %v", r.Payload, err)
	}
	want := "RECEIPT order=o1 customer=ana drink=flat white total=3.50"
	if got.Receipt != want || got.RequestID != "req-1" || got.Function != "receipts" || got.MemoryMB != 128 {
		t.Fatalf("got %+v, want receipt %q, requestId req-1 (Lambda-Runtime-Aws-Request-Id), function receipts, memoryMB 128", got, want)
	}
	// The environment stays warm: a second invocation is served by the same process.
	r2 := invoke(t, env, `{"echo":{"n":2}}`, 5*time.Second)
	if string(r2.Payload) != `{"n":2}` {
		t.Fatalf("second invoke: %s", r2.Payload)
	}
}

func TestHandlerErrorIsAFunctionError(t *testing.T) {
	env, _, _ := startEnv(t, 1)
	r := invoke(t, env, `{"fail":"out of milk"}`, 5*time.Second)
	var doc ErrorDoc
	if err := json.Unmarshal(r.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	if r.FunctionError != "Unhandled" || doc.ErrorMessage != "out of milk" || doc.ErrorType != "errorString" {
		t.Fatalf("got FunctionError %q doc %+v, want Unhandled, errorMessage 'out of milk', errorType errorString", r.FunctionError, doc)
	}
	// An error does not break the environment.
	if r := invoke(t, env, `{"echo":1}`, 5*time.Second); string(r.Payload) != "1" {
		t.Fatalf("after an error: %s", r.Payload)
	}
}

func TestPanicIsReportedAndTheRuntimeExits(t *testing.T) {
	env, _, exited := startEnv(t, 1)
	r := invoke(t, env, `{"panic":"grinder jammed"}`, 5*time.Second)
	var doc ErrorDoc
	_ = json.Unmarshal(r.Payload, &doc)
	if r.FunctionError != "Unhandled" || doc.ErrorMessage != "grinder jammed" || len(doc.StackTrace) == 0 {
		t.Fatalf("got %q %s, want Unhandled with errorMessage 'grinder jammed' and a stack trace", r.FunctionError, r.Payload)
	}
	// Broken as the panic is answered, before the process is seen to exit:
	// the next invocation must go to another environment, not to a
	// runtime about to die.
	select {
	case <-env.Broken():
	default:
		t.Fatal("the environment still takes invocations after its handler panicked")
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the runtime did not exit after a panic")
	}
}

func TestTimeoutReportsTaskTimedOutAndBreaksTheEnvironment(t *testing.T) {
	env, _, _ := startEnv(t, 1)
	start := time.Now()
	r := invoke(t, env, `{"sleepMs":5000}`, 300*time.Millisecond)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a 300ms timeout took %s to report", took)
	}
	if !r.TimedOut || r.FunctionError != "Unhandled" || r.ErrorType != "Sandbox.Timedout" || !strings.Contains(string(r.Payload), "Task timed out after") {
		t.Fatalf("got %+v %s, want a Sandbox.Timedout 'Task timed out after' error", r, r.Payload)
	}
	select {
	case <-env.Broken():
	default:
		t.Fatal("the environment must be replaced after a timeout")
	}
	if _, err := env.Invoke(context.Background(), Invocation{Payload: []byte(`{}`)}); err != ErrClosed {
		t.Fatalf("invoke on a broken environment: %v, want ErrClosed", err)
	}
}

func TestSeveralInvocationsOverlapInOneEnvironment(t *testing.T) {
	const n = 8
	env, _, _ := startEnv(t, n)
	var wg sync.WaitGroup
	peaks := make([]int, n)
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := env.Invoke(context.Background(), Invocation{Payload: []byte(`{"sleepMs":500,"id":"x"}`), Deadline: time.Now().Add(20 * time.Second)})
			if err != nil || r.FunctionError != "" {
				errs <- fmt.Sprintf("%v %s", err, r.Payload)
				return
			}
			var got struct{ Peak int }
			_ = json.Unmarshal(r.Payload, &got)
			peaks[i] = got.Peak
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	max := 0
	for _, p := range peaks {
		max = func(a, b int) int {
			if a > b {
				return a
			}
			return b
		}(max, p)
	}
	if max < 2 {
		t.Fatalf("peak concurrency in the handler %d, want several invocations at once with AWS_LAMBDA_MAX_CONCURRENCY=%d", max, n)
	}
}

func TestOnlyTheEnvironmentsTokenIsServed(t *testing.T) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	base := fmt.Sprintf("http://127.0.0.1:%d", env.Port())
	resp, err := http.Get(base + "/" + APIVersion + "/runtime/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without the token: %d, want 403", resp.StatusCode)
	}
	resp, err = http.Post("http://"+env.Address("")+"/"+APIVersion+"/runtime/invocation/nope/response", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "InvalidRequestID") {
		t.Fatalf("response for an unknown request id: %d %s, want 400 InvalidRequestID", resp.StatusCode, body)
	}
}

func TestCloseFailsInflightInvocations(t *testing.T) {
	env, _, _ := startEnv(t, 1)
	done := make(chan Result, 1)
	go func() { done <- invoke(t, env, `{"sleepMs":3000}`, 10*time.Second) }()
	// Wait until the runtime has taken it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		env.mu.Lock()
		n := len(env.inflight)
		env.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runtime never took the invocation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.Close("agent stopping")
	select {
	case r := <-done:
		if r.FunctionError != "Unhandled" || !strings.Contains(string(r.Payload), "agent stopping") {
			t.Fatalf("got %q %s, want an Unhandled error naming the reason", r.FunctionError, r.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the in-flight invocation")
	}
}
