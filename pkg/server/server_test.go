package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

func applyTD(t *testing.T, c *client.Client, td *model.TaskDefinition) wire.ApplyResult {
	t.Helper()
	spec, _ := json.Marshal(td)
	res, err := c.Apply(context.Background(), []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}})
	if err != nil {
		t.Fatalf("apply %s: %v", td.Family, err)
	}
	return res[0]
}

func TestApplyIsIdempotentAndRevisionsOnChange(t *testing.T) {
	cp := testutil.StartServer(t)
	td := testutil.TaskDef("web", 64)
	if r := applyTD(t, cp.Admin, td); r.Action != "created" || r.Ref != "web:1" {
		t.Fatalf("first apply = %+v, want created web:1", r)
	}
	if r := applyTD(t, cp.Admin, td); r.Action != "unchanged" || r.Ref != "web:1" {
		t.Fatalf("re-apply = %+v, want unchanged web:1", r)
	}
	td.ContainerDefinitions[0].Image = "fake:2"
	if r := applyTD(t, cp.Admin, td); r.Action != "configured" || r.Ref != "web:2" {
		t.Fatalf("changed apply = %+v, want configured web:2", r)
	}
}

func TestTaskLifecycleThroughAgentProtocol(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	agent := testutil.StartHandAgent(t, cp.Agent, "n1", 2048, 4096, nil)
	applyTD(t, cp.Admin, testutil.TaskDef("web", 128))
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	id := tasks[0].TaskID
	if tasks[0].LastStatus != model.StatusPending || tasks[0].DesiredStatus != model.StatusRunning {
		t.Fatalf("new task: last=%s desired=%s, want PENDING/RUNNING", tasks[0].LastStatus, tasks[0].DesiredStatus)
	}
	testutil.WaitFor(t, 5*time.Second, "assignment on n1", func() (bool, string) {
		_, ok := agent.Assignment(id)
		return ok, "not assigned"
	})
	as, _ := agent.Assignment(id)
	if as.TaskDefinition.Family != "web" || as.Task.NodeName != "n1" {
		t.Fatalf("assignment = %s on %q, want web on n1", as.TaskDefinition.Family, as.Task.NodeName)
	}
	now := time.Now().UTC()
	agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusActivating},
		wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusRunning, StartedAt: &now,
			Containers: []model.Container{{Name: "app", LastStatus: model.ContainerRunning, Essential: true}}})
	got := testutil.WaitTask(t, cp.Admin, id, 5*time.Second, func(t *model.Task) bool { return t.LastStatus == model.StatusRunning })
	if got.StartedAt == nil || len(got.Containers) != 1 {
		t.Fatalf("running task: startedAt=%v containers=%d, want set and 1", got.StartedAt, len(got.Containers))
	}
	// A stale report must not move the status backwards.
	agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusPending})
	if got, _ := cp.Admin.GetTask(ctx, id); got.LastStatus != model.StatusRunning {
		t.Fatalf("after a stale report last=%s, want RUNNING (status only moves forward)", got.LastStatus)
	}

	if _, err := cp.Admin.StopTask(ctx, id[:8], "test is done"); err != nil {
		t.Fatalf("stop by id prefix: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "desired STOPPED reaches the agent", func() (bool, string) {
		as, _ := agent.Assignment(id)
		return as.Task.DesiredStatus == model.StatusStopped, as.Task.DesiredStatus
	})
	exit := 143
	agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusStopped, StopCode: model.StopEssentialContainerExited,
		Containers: []model.Container{{Name: "app", LastStatus: model.ContainerStopped, ExitCode: &exit, Essential: true}}})
	got = testutil.WaitTask(t, cp.Admin, id, 5*time.Second, func(t *model.Task) bool { return t.IsStopped() })
	if got.StopCode != model.StopUserInitiated || got.StoppedReason != "test is done" || got.StoppedAt == nil {
		t.Fatalf("stopped task: code=%s reason=%q stoppedAt=%v; want UserInitiated, the user's reason, a time", got.StopCode, got.StoppedReason, got.StoppedAt)
	}
	if *got.Containers[0].ExitCode != 143 {
		t.Fatalf("exit code = %d, want 143", *got.Containers[0].ExitCode)
	}
}

func TestUnplacedTaskSaysWhy(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	testutil.StartHandAgent(t, cp.Agent, "small-1", 1024, 1024, nil)
	testutil.StartHandAgent(t, cp.Agent, "small-2", 1024, 2048, nil)
	testutil.StartHandAgent(t, cp.Agent, "big", 4096, 8192, nil)
	if _, err := cp.Admin.SetNodeStatus(ctx, "big", "drain"); err != nil {
		t.Fatal(err)
	}
	// The server's caches follow etcd through separate watches; wait until
	// they show the drain and all three nodes alive before starting the task.
	testutil.WaitFor(t, 5*time.Second, "the drain and the nodes visible", func() (bool, string) {
		nodes, err := cp.Admin.ListNodes(ctx)
		ok := err == nil && len(nodes) == 3
		for _, n := range nodes {
			ok = ok && n.Alive && (n.Name != "big" || n.Status == model.NodeDraining)
		}
		return ok, fmt.Sprint(nodes, err)
	})
	applyTD(t, cp.Admin, testutil.TaskDef("huge", 4096))
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "huge"})
	if err != nil {
		t.Fatal(err)
	}
	want := "no node can take it: 3 nodes checked, 2 lack 4096 MiB memory, 1 is draining"
	// Poll for the settled message: right after registering, a node may be
	// counted once as not heartbeating until the server's caches catch up.
	got := testutil.WaitTask(t, cp.Admin, tasks[0].TaskID, 10*time.Second, func(t *model.Task) bool { return t.PlacementMessage == want })
	if got.PlacementMessage != want || got.LastStatus != model.StatusPending {
		t.Fatalf("placement message = %q (last %s)\nwant %q (PENDING)", got.PlacementMessage, got.LastStatus, want)
	}
	// Activating the big node lets the task through without another request.
	if _, err := cp.Admin.SetNodeStatus(ctx, "big", "activate"); err != nil {
		t.Fatal(err)
	}
	got = testutil.WaitTask(t, cp.Admin, tasks[0].TaskID, 5*time.Second, func(t *model.Task) bool { return t.NodeName != "" })
	if got.NodeName != "big" {
		t.Fatalf("placed on %s, want big", got.NodeName)
	}
}

func TestNodeLostStopsItsTasks(t *testing.T) {
	cp := testutil.StartServer(t, func(o *server.Config) { o.NodeTTL = time.Second; o.NodeLostGrace = time.Second })
	ctx := context.Background()
	doomed := testutil.StartHandAgent(t, cp.Agent, "doomed", 1024, 1024, nil)
	doomed.StopHeartbeats()
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	// The node stops heartbeating: its lease expires, then the grace passes.
	got := testutil.WaitTask(t, cp.Admin, tasks[0].TaskID, 20*time.Second, func(t *model.Task) bool { return t.IsStopped() })
	if got.StopCode != model.StopNodeLost || !strings.Contains(got.StoppedReason, "doomed stopped heartbeating") {
		t.Fatalf("stop = %s %q, want NodeLost naming the node", got.StopCode, got.StoppedReason)
	}
}

func TestStoppingAnUnplacedTaskStopsItAtOnce(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cp.Admin.StopTask(ctx, tasks[0].TaskID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsStopped() || got.StopCode != model.StopUserInitiated {
		t.Fatalf("stopped unplaced task: last=%s code=%s, want STOPPED UserInitiated", got.LastStatus, got.StopCode)
	}
}

// TestBadRequestsGet4xx checks that client mistakes are 4xx JSON errors
// with a code and message, never a 500.
func TestBadRequestsGet4xx(t *testing.T) {
	cp := testutil.StartServer(t)
	admin, agent := cp.Bootstrap.AdminToken, cp.Bootstrap.JoinToken
	big := `{"family":"x","containerDefinitions":[{"name":"a","image":"` + strings.Repeat("a", 2<<20) + `"}]}`
	cases := []struct {
		name, method, path, token, body string
		status                          int
		inMsg                           string
	}{
		{"no token", "GET", "/v1/tasks", "", "", 401, "missing bearer token"},
		{"bad token", "GET", "/v1/tasks", "nope", "", 401, "invalid token"},
		{"agent token on admin endpoint", "GET", "/v1/tasks", agent, "", 403, "agent endpoints"},
		{"malformed json", "POST", "/v1/taskdefinitions", admin, `{"family": `, 400, "malformed JSON"},
		{"wrong type", "POST", "/v1/taskdefinitions", admin, `{"family": 3}`, 400, "family: expected string"},
		{"unknown field", "POST", "/v1/taskdefinitions", admin, `{"family":"x","famly":"y"}`, 400, `unknown field "famly"`},
		{"invalid definition", "POST", "/v1/taskdefinitions", admin, `{"family":"x","containerDefinitions":[{"name":"a","image":"i","memory":2}]}`, 400, "containerDefinitions[0].memory"},
		{"oversized body", "POST", "/v1/taskdefinitions", admin, big, 413, "limit"},
		{"unknown task", "GET", "/v1/tasks/0123456789abcdef0123456789abcdef", admin, "", 404, "not found"},
		{"unknown task definition", "POST", "/v1/tasks", admin, `{"taskDefinition":"ghost"}`, 404, "ghost"},
		{"bad count", "POST", "/v1/tasks", admin, `{"taskDefinition":"ghost","count":-1}`, 400, "count"},
		{"bad constraint", "POST", "/v1/tasks", admin, `{"taskDefinition":"ghost","placementConstraints":[{"type":"memberOf","expression":"attribute:os =="}]}`, 400, "placementConstraints[0].expression"},
		{"unknown node", "POST", "/v1/nodes/ghost/drain", admin, "", 404, "ghost"},
		{"unknown endpoint", "GET", "/v1/nope", admin, "", 404, "no such endpoint"},
		{"unknown apply kind", "POST", "/v1/apply", admin, `{"documents":[{"kind":"Nope","spec":{}}]}`, 400, "unknown kind"},
		{"trailing data", "POST", "/v1/tasks", admin, `{"taskDefinition":"x"} {}`, 400, "after the JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, cp.URL+tc.path, bytes.NewBufferString(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e wire.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("status %d with a non-JSON body: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(e.Message, tc.inMsg) || e.Code == "" {
				t.Fatalf("got %d %s %q; want %d with a code and a message containing %q", resp.StatusCode, e.Code, e.Message, tc.status, tc.inMsg)
			}
		})
	}
}

func TestClientFailsOverToAnotherServer(t *testing.T) {
	cp := testutil.StartServer(t)
	c := client.New(client.Config{Servers: []string{"http://127.0.0.1:1", cp.URL}, Token: cp.Bootstrap.AdminToken})
	if _, err := c.ListNodes(context.Background()); err != nil {
		t.Fatalf("with a dead first server: %v", err)
	}
	bad := client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken})
	if _, err := bad.ListNodes(context.Background()); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("agent token on admin endpoint: %v, want ErrUnauthorized", err)
	}
}

// TestNodeTokensAreScoped checks agent credentials: a join token only
// registers, and a node's token acts for that node alone.
func TestNodeTokensAreScoped(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	a := cp.Agent.Clone()
	resA, err := a.Register(ctx, wire.RegisterRequest{Name: "a", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Agent.Clone().Register(ctx, wire.RegisterRequest{Name: "b", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}}); err != nil {
		t.Fatal(err)
	}
	if resA.NodeToken == "" || resA.NodeToken == cp.Bootstrap.JoinToken {
		t.Fatalf("register returned node token %q, want a fresh one", resA.NodeToken)
	}
	if err := a.Heartbeat(ctx, "a"); err != nil {
		t.Fatalf("node a heartbeating with its own token: %v", err)
	}
	call := func(tok, path string) (int, string) {
		req, _ := http.NewRequest("POST", cp.URL+path, strings.NewReader(`{"reports":[]}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e wire.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Message
	}
	if code, msg := call(resA.NodeToken, "/v1/agent/nodes/b/status"); code != 403 || !strings.Contains(msg, `node "a" and may not act for node "b"`) {
		t.Fatalf("node a reporting for node b: %d %q, want 403 naming both", code, msg)
	}
	if code, msg := call(cp.Bootstrap.JoinToken, "/v1/agent/nodes/a/heartbeat"); code != 403 || !strings.Contains(msg, "join token may only register") {
		t.Fatalf("join token heartbeating: %d %q, want 403", code, msg)
	}
	if code, _ := call(resA.NodeToken, "/v1/nodes/a/drain"); code != 403 {
		t.Fatalf("node token on an admin endpoint: %d, want 403", code)
	}
	// Re-registering rotates the token: the old one stops working.
	if _, err := cp.Agent.Clone().Register(ctx, wire.RegisterRequest{Name: "a", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the old node token revoked (token cache ttl 5 s)", func() (bool, string) {
		code, _ := call(resA.NodeToken, "/v1/agent/nodes/a/status")
		return code == 401, fmt.Sprint("status ", code)
	})
}
