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
	fixed := func(c *Config) { c.TaskEndpointListen = addr }
	cp := newFakeCP()
	rt := newRuntime()
	h1 := startAgent(t, rt, cp, fixed)
	task, def := newTask("node-1", ctrDef("app", ""))
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	env := endpointEnvOf(t, rt, task.TaskID)
	uri := env["ECS_AGENT_URI"]
	if !strings.HasPrefix(uri, "http://"+addr+"/api/") {
		t.Fatalf("ECS_AGENT_URI %q, want it on %s", uri, addr)
	}
	if err := h1.stop(); err != nil {
		t.Fatal(err)
	}
	startAgent(t, rt, cp, fixed)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // no idle connections for goleak
	var resp *http.Response
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
