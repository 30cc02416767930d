package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// mintingCP is the fake control plane that also mints task credentials.
type mintingCP struct {
	*fakeCP
	mu    sync.Mutex
	mints int
}

func (m *mintingCP) TaskCredentials(_ context.Context, node, taskID string) (wire.TaskCredentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mints++
	return wire.TaskCredentials{AccessKeyId: "ASIATEST" + taskID[:4], SecretAccessKey: "s", Token: "t",
		Expiration: time.Now().Add(time.Hour).UTC().Format(time.RFC3339), RoleArn: model.RoleArn("r")}, nil
}

// A task with a role gets AWS_CONTAINER_CREDENTIALS_FULL_URI and its token
// (one without a role gets neither); the endpoint answers only with the
// token, serves ECS's shape, and reuses credentials far from expiry.
func TestContainerCredentialsEndpoint(t *testing.T) {
	cp := &mintingCP{fakeCP: newFakeCP()}
	rt := newRuntime()
	startAgent(t, rt, cp.fakeCP, func(c *Config) { c.ControlPlane = cp })
	task, def := newTask("node-1", ctrDef("app", ""))
	def.TaskRoleArn = model.RoleArn("r")
	cp.run(task, def)
	plain, plainDef := newTask("node-1", ctrDef("app", ""))
	cp.run(plain, plainDef)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	cp.waitStatus(t, plain.TaskID, model.StatusRunning)
	if env := endpointEnvOf(t, rt, plain.TaskID); env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != "" || env["AWS_ACCESS_KEY_ID"] != "" {
		t.Fatalf("a task without a role got credentials: %v", env)
	}
	env := endpointEnvOf(t, rt, task.TaskID)
	uri, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	if uri == "" || tok == "" {
		t.Fatalf("a task with a role: env %v lacks the credentials endpoint", env)
	}
	get := func(auth string) (*http.Response, map[string]string) {
		req, _ := http.NewRequest("GET", uri, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		return resp, doc
	}
	for _, bad := range []string{"", "wrong"} {
		if resp, _ := get(bad); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", bad, resp.StatusCode)
		}
	}
	resp, doc := get(tok)
	if resp.StatusCode != 200 || doc["AccessKeyId"] != "ASIATEST"+task.TaskID[:4] || doc["Token"] != "t" || doc["Expiration"] == "" {
		t.Fatalf("credentials: %d %v", resp.StatusCode, doc)
	}
	get(tok)
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.mints != 1 {
		t.Errorf("%d mints for two reads an hour before expiry, want 1 (cached)", cp.mints)
	}
}
