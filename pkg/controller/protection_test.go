package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/model"
)

// envOf returns a task's container environment as the agent created it.
func envOf(t *testing.T, rt *fake.Runtime, taskID string) map[string]string {
	t.Helper()
	for _, st := range rt.Containers() {
		if st.Labels[runtime.LabelTask] != taskID {
			continue
		}
		spec, _ := rt.Spec(st.ID)
		env := map[string]string{}
		for _, kv := range spec.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		return env
	}
	t.Fatalf("task %s has no container", taskID)
	return nil
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	return resp.StatusCode, doc
}

// TestScaleInProtection: a task that protects itself through
// $ECS_AGENT_URI is never stopped by a scale-in (the others are); once it
// drops its protection the service finishes scaling in. Another task's
// secret does not reach this task's state, and the metadata endpoint
// answers in ECS's shapes.
func TestScaleInProtection(t *testing.T) {
	c := startSvcCluster(t, 1)
	ctx := context.Background()
	c.apply(t, taskDef("guarded", "", false), service("guarded", "guarded", 3, 100, 200, ""))
	var tasks []*model.Task
	testutil.WaitFor(t, 15*time.Second, "3 running tasks", func() (bool, string) {
		_, tasks = c.get(t, "guarded")
		return running(tasks) == 3, fmt.Sprintf("%d running", running(tasks))
	})
	rt := c.rts["n0"]
	keep := tasks[0]
	env := envOf(t, rt, keep.TaskID)
	agentURI, metaURI := env["ECS_AGENT_URI"], env["ECS_CONTAINER_METADATA_URI_V4"]
	if agentURI == "" || metaURI == "" {
		t.Fatalf("the container lacks ECS_AGENT_URI/ECS_CONTAINER_METADATA_URI_V4: %v", env)
	}

	code, doc := call(t, http.MethodGet, metaURI+"/task", "")
	if code != 200 || doc["TaskARN"] != keep.TaskArn || doc["Family"] != "guarded" || len(doc["Containers"].([]any)) != 1 {
		t.Fatalf("task metadata: %d %v", code, doc)
	}
	code, doc = call(t, http.MethodGet, metaURI, "")
	if code != 200 || doc["Name"] != "app" || doc["KnownStatus"] != "RUNNING" {
		t.Fatalf("container metadata: %d %v", code, doc)
	}
	// A guessed or foreign secret finds nothing.
	base := agentURI[:strings.LastIndex(agentURI, "/")]
	if code, _ := call(t, http.MethodGet, base+"/0123456789abcdef0123456789abcdef/task-protection/v1/state", ""); code != 404 {
		t.Fatalf("an unknown secret: status %d, want 404", code)
	}
	if code, doc := call(t, http.MethodPut, agentURI+"/task-protection/v1/state", `{"ProtectionEnabled":true,"ExpiresInMinutes":9999}`); code != 400 ||
		!strings.Contains(fmt.Sprint(doc), "ExpiresInMinutes") {
		t.Fatalf("out-of-range ExpiresInMinutes: %d %v", code, doc)
	}

	code, doc = call(t, http.MethodPut, agentURI+"/task-protection/v1/state", `{"ProtectionEnabled":true,"ExpiresInMinutes":60}`)
	p, _ := doc["protection"].(map[string]any)
	if code != 200 || p["ProtectionEnabled"] != true || p["TaskArn"] != keep.TaskArn {
		t.Fatalf("enable protection: %d %v", code, doc)
	}
	// The answer comes once the control plane has it.
	got, err := c.Admin.GetTask(ctx, keep.TaskID)
	if err != nil || got.ProtectedUntil == nil || time.Until(*got.ProtectedUntil) < 55*time.Minute {
		t.Fatalf("the task's protectedUntil after PUT returned: %v (%v)", got.ProtectedUntil, err)
	}
	if code, doc := call(t, http.MethodGet, agentURI+"/task-protection/v1/state", ""); code != 200 || doc["protection"].(map[string]any)["ProtectionEnabled"] != true {
		t.Fatalf("GET protection: %d %v", code, doc)
	}

	if _, err := c.Admin.ScaleService(ctx, "guarded", 0); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "the unprotected tasks stopped", func() (bool, string) {
		_, tasks = c.get(t, "guarded")
		return running(tasks) == 1, fmt.Sprintf("%d running", running(tasks))
	})
	for _, tk := range tasks {
		if tk.TaskID == keep.TaskID && (tk.DesiredStatus != model.StatusRunning || tk.LastStatus != model.StatusRunning) {
			t.Fatalf("the protected task was stopped: %s/%s", tk.DesiredStatus, tk.LastStatus)
		}
	}

	code, _ = call(t, http.MethodPut, agentURI+"/task-protection/v1/state", `{"ProtectionEnabled":false}`)
	if code != 200 {
		t.Fatalf("disable protection: %d", code)
	}
	testutil.WaitFor(t, 15*time.Second, "the formerly protected task stopped", func() (bool, string) {
		_, tasks = c.get(t, "guarded")
		return running(tasks) == 0, fmt.Sprintf("%d running", running(tasks))
	})
}
