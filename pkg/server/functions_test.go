package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
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
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"receipt","Code":{"ImageUri":"`+bin+`"},"Timeout":2}}`)

	agentCtx, stopAgent := context.WithCancel(ctx)
	ag, err := agent.New(agent.Config{NodeName: "fn-node", Runtime: fake.New(fake.Config{}), ControlPlane: cp.Agent.Clone(),
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
	if !strings.Contains(res.Logs, "REPORT RequestId: "+res.RequestID) || !strings.Contains(res.Logs, "Init Duration:") {
		t.Fatalf("the first invocation's log = %q, want its REPORT line with an Init Duration", res.Logs)
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
		f.P50Ms <= 0 || f.P99Ms < f.P50Ms || f.BilledMs < 2 || f.GBSeconds <= 0 {
		t.Fatalf("function usage = %+v, want 2 invocations, 1 error, 1 cold start, billed GB-seconds", f)
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
		`orch_service_gb_seconds{service=""}`, `orch_task_vcpu_seconds{family="web"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The agent goes away while the handler sleeps: the call fails
	// clearly instead of hanging.
	errc := make(chan error, 1)
	go func() {
		_, err := cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"sleepMs":1500}`)})
		errc <- err
	}()
	testutil.WaitFor(t, 10*time.Second, "the slow invocation in flight", func() (bool, string) {
		f, err := cp.Admin.Function(ctx, "receipt")
		return err == nil && f.Inflight == 1, "not in flight"
	})
	stopAgent()
	select {
	case err := <-errc:
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 502 || !strings.Contains(ce.Message, "went away") {
			t.Fatalf("invocation whose agent stopped: %v, want a 502 saying the agent went away", err)
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
