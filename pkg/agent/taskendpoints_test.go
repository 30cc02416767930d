package agent

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

func endpointEnvOf(t *testing.T, rt interface {
	Containers() []runtime.State
	Spec(string) (runtime.ContainerSpec, bool)
}, taskID string) map[string]string {
	t.Helper()
	for _, st := range rt.Containers() {
		if st.Labels[runtime.LabelTask] == taskID {
			spec, _ := rt.Spec(st.ID)
			env := map[string]string{}
			for _, kv := range spec.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			return env
		}
	}
	t.Fatalf("no container for task %s", taskID)
	return nil
}

// TestTaskEndpointsSurviveAgentRestart: with a fixed task endpoint address,
// a restarted agent that adopts a task's containers serves the URLs they
// were started with, and reports the protection the control plane holds.
func TestTaskEndpointsSurviveAgentRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	testEndpointsSurviveRestart(t, func(c *Config) { c.TaskEndpointListen = addr }, addr)
}

// TestTaskEndpointsSurviveAgentRestartDefaultPort: without a configured
// address, the restarted agent listens on the port its containers' label
// records, so their URLs keep working.
func TestTaskEndpointsSurviveAgentRestartDefaultPort(t *testing.T) {
	testEndpointsSurviveRestart(t, func(*Config) {}, "")
}

// TestTaskEndpointPortTakenAtRestart: when the previous port is taken, the
// restarted agent still starts (on a new port) and serves new tasks.
func TestTaskEndpointPortTakenAtRestart(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h1 := startAgent(t, rt, cp)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	old := endpointEnvOf(t, rt, task.TaskID)["ECS_AGENT_URI"]
	if err := h1.stop(); err != nil {
		t.Fatal(err)
	}
	hostPort := strings.TrimPrefix(old, "http://")
	hostPort = hostPort[:strings.Index(hostPort, "/")]
	squat, err := net.Listen("tcp", hostPort)
	if err != nil {
		t.Fatalf("taking the old port %s: %v", hostPort, err)
	}
	defer squat.Close()
	startAgent(t, rt, cp)
	task2, def2 := newTask("node-1", ctrDef("app", ""))
	cp.run(task2, def2)
	cp.waitStatus(t, task2.TaskID, model.StatusRunning)
	uri := endpointEnvOf(t, rt, task2.TaskID)["ECS_AGENT_URI"]
	if strings.HasPrefix(uri, "http://"+hostPort+"/") {
		t.Fatalf("new task's ECS_AGENT_URI %q is on the taken port", uri)
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(uri + "/task-protection/v1/state")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("new task's endpoint on the new port: %v %v", resp, err)
	}
	resp.Body.Close()
}

func testEndpointsSurviveRestart(t *testing.T, listen func(*Config), addr string) {
	cp := newFakeCP()
	rt := newRuntime()
	h1 := startAgent(t, rt, cp, listen)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	env := endpointEnvOf(t, rt, task.TaskID)
	uri := env["ECS_AGENT_URI"]
	if addr == "" {
		addr = strings.TrimPrefix(uri, "http://")
		addr = addr[:max(strings.Index(addr, "/"), 0)]
	}
	if !strings.HasPrefix(uri, "http://"+addr+"/api/") {
		t.Fatalf("ECS_AGENT_URI %q, want it on %s", uri, addr)
	}
	if err := h1.stop(); err != nil {
		t.Fatal(err)
	}
	startAgent(t, rt, cp, listen)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // no idle connections for goleak
	var resp *http.Response
	var err error
	eventually(t, "the adopted task's endpoint answers", func() bool {
		resp, err = hc.Get(uri + "/task-protection/v1/state")
		if err != nil {
			return false
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			return false
		}
		return true
	})
	defer resp.Body.Close()
	var doc struct{ Protection map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Protection["TaskArn"] != task.TaskArn {
		t.Fatalf("protection state after restart: %v %+v", err, doc)
	}
	// Another task's path finds nothing.
	other := strings.Replace(uri, uri[len(uri)-32:], strings.Repeat("0", 32), 1)
	r, err := hc.Get(other + "/task-protection/v1/state")
	if err != nil || r.StatusCode != 404 {
		t.Fatalf("a foreign secret: %v %v", r, err)
	}
	r.Body.Close()
}
