package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// TestFunctionsThroughAnAgent runs the whole invocation path in process:
// the API, the server's hub, an agent's invocation stream and its pool
// (the receipt handler as a local process instead of a container), then
// the agent going away mid-invocation.
func TestFunctionsThroughAnAgent(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "receipt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/apps/receipt").CombinedOutput(); err != nil {
		t.Fatalf("building the receipt handler: %v\n%s", err, out)
	}
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"receipt","Code":{"ImageUri":"`+bin+`"},"Timeout":2,"Environment":{"Variables":{"SHOP":"central","API_KEY":"s3cr3t-never-shown"}}}}`)

	agentCtx, stopAgent := context.WithCancel(ctx)
	// The wrapper (functions_drain_test.go) counts the invocations the
	// agent has taken off its stream, so the stop below can wait for the
	// slow one to be running on the agent, not merely sent to it.
	agentCP := &unreachableResults{Client: cp.Agent.Clone()}
	ag, err := agent.New(agent.Config{NodeName: "fn-node", Runtime: fake.New(fake.Config{}), ControlPlane: agentCP,
		Logger: testutil.Logger(), StatsInterval: -1,
		Functions: &agent.FunctionsConfig{Launcher: lambdart.ProcessLauncher{}, ListenAddr: "127.0.0.1:0", RuntimeHost: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- ag.Run(agentCtx) }()
	t.Cleanup(func() { stopAgent(); <-agentDone })

	var res *wire.InvokeResponse
	testutil.WaitFor(t, 30*time.Second, "an invocation through the agent", func() (bool, string) {
		res, err = cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"id":"o-9","customer":"eve","drink":"flat white","price":3}`), Log: true})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if res.StatusCode != 200 || res.FunctionError != "" || !strings.Contains(string(res.Payload), "RECEIPT order=o-9") || res.Node != "fn-node" {
		t.Fatalf("invoke: %+v", res)
	}
	if !strings.Contains(res.Logs, "REPORT RequestId: "+res.RequestID) || !strings.Contains(res.Logs, "Init Duration:") ||
		!strings.Contains(res.Logs, "\tMax Memory Used: ") {
		t.Fatalf("the first invocation's log = %q, want its REPORT line with Max Memory Used and an Init Duration", res.Logs)
	}
	res, err = cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"fail":"no milk"}`)})
	if err != nil || res.FunctionError != "Unhandled" || !strings.Contains(string(res.Payload), "no milk") {
		t.Fatalf("a handler error: %v %+v", err, res)
	}
	if out, _ := cp.Admin.FunctionLogs(ctx, "receipt"); strings.Count(out, "REPORT RequestId:") != 2 {
		t.Fatalf("orch logs function: %q, want 2 REPORT lines", out)
	}

	// Metering: orch usage and /metrics count both invocations, the
	// error and the cold start, and bill GB-seconds; a task on the same
	// node is billed in vCPU- and GB-seconds.
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	if _, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"}); err != nil {
		t.Fatal(err)
	}
	var u *wire.Usage
	testutil.WaitFor(t, 30*time.Second, "the function and the running task in orch usage", func() (bool, string) {
		if u, err = cp.Admin.Usage(ctx); err != nil {
			return false, err.Error()
		}
		return len(u.Functions) == 1 && len(u.Tasks) == 1 && u.Tasks[0].GBSeconds > 0, fmt.Sprintf("%+v", u)
	})
	if f := u.Functions[0]; f.Function != "receipt" || f.Invocations != 2 || f.Errors != 1 || f.Throttles != 0 || f.ColdStarts != 1 ||
		f.P50Ms <= 0 || f.P99Ms < f.P50Ms || f.BilledMs < 2 || f.GBSeconds <= 0 ||
		f.MaxMemoryUsedMB <= 0 || f.MaxMemoryUsedMB > 128 {
		t.Fatalf("function usage = %+v, want 2 invocations, 1 error, 1 cold start, billed GB-seconds, a Max Memory Used within MemorySize", f)
	}
	if tu, su := u.Tasks[0], u.Services; !tu.Running || tu.Family != "web" || tu.GBSeconds != tu.Seconds*64/1024 || len(su) != 1 || su[0].Tasks != 1 || su[0].GBSeconds != tu.GBSeconds {
		t.Fatalf("task usage = %+v, services = %+v", tu, su)
	}
	req, _ := http.NewRequest("GET", cp.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`orch_function_invocations_total{function="receipt"} 2`, `orch_function_errors_total{function="receipt"} 1`,
		`orch_function_gb_seconds_total{function="receipt"}`, `orch_function_duration_seconds_count{function="receipt"} 2`,
		`orch_function_max_memory_used_bytes{function="receipt"} `,
		`orch_service_gb_seconds{service=""}`, `orch_task_vcpu_seconds{family="web"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The dashboard: a viewer reads the Functions page and the function's
	// page (its figures, its REPORT lines, its variables by name only).
	viewer, err := cp.Admin.NewToken(ctx, "viewer", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ui := uiSession(t, cp.URL, viewer.Token)
	for path, wants := range map[string][]string{
		"/ui/functions":         {`data-function="receipt"`, `data-col="invocations">2<`, `data-col="errors">1<`, `data-col="warm">1<`},
		"/ui/functions/receipt": {"<code>API_KEY</code>, <code>SHOP</code>", "REPORT RequestId: " + res.RequestID, "Max Memory Used: "},
	} {
		body := ui(path)
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s as a viewer lacks %q in:\n%.3000s", path, w, body)
			}
		}
		if strings.Contains(body, "s3cr3t-never-shown") {
			t.Errorf("GET %s shows an environment variable's value", path)
		}
	}

	// The agent stops while the handler sleeps: it drains, so the caller
	// gets the handler's real answer instead of an error
	// (functions_drain_test.go covers the drain's other cases).
	errc := make(chan error, 1)
	var slow *wire.InvokeResponse
	takenBefore := agentCP.taken.Load()
	go func() {
		var err error
		slow, err = cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"id":"o-10","customer":"dan","drink":"tea","price":2,"sleepMs":1500}`)})
		errc <- err
	}()
	// In flight on the server is not enough: an agent stopping before it
	// has taken the invocation refuses it, and the server, with no other
	// agent, answers "no agent" (right, but not the case under test).
	testutil.WaitFor(t, 20*time.Second, "the slow invocation taken by the agent", func() (bool, string) {
		f, err := cp.Admin.Function(ctx, "receipt")
		return err == nil && f.Inflight == 1 && agentCP.taken.Load() > takenBefore, fmt.Sprintf("in flight %v, taken %d", f, agentCP.taken.Load())
	})
	stopAgent()
	select {
	case err := <-errc:
		if err != nil || slow.StatusCode != 200 || !strings.Contains(string(slow.Payload), "RECEIPT order=o-10") {
			t.Fatalf("invocation running while its agent stopped: %v %+v, want the handler's receipt", err, slow)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the invocation did not end when its agent stopped")
	}
}

func applyManifest(t *testing.T, c *client.Client, doc string) {
	t.Helper()
	var req wire.ApplyRequest
	if err := json.Unmarshal([]byte(`{"documents":[`+doc+`]}`), &req); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(context.Background(), "POST", "/v1/apply", req, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// uiSession signs in to the dashboard with tok and returns a page getter
// (failing the test on a status other than 200).
func uiSession(t *testing.T, base, tok string) func(path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	get := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %.500s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b)
		}
		return string(b)
	}
	login := get(hc.Get(base + "/ui/login"))
	m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no nonce in the sign-in page:\n%.1000s", login)
	}
	get(hc.PostForm(base+"/ui/login", url.Values{"nonce": {m[1]}, "token": {tok}, "next": {"/ui/functions"}}))
	return func(path string) string { return get(hc.Get(base + path)) }
}
