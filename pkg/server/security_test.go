package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// call makes one /v1 request with tok and returns the status, the error
// body (if any) and the raw body.
func call(t *testing.T, base, tok, method, path string, body any) (int, wire.Error, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e wire.Error
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e, raw
}

func mint(t *testing.T, cp *testutil.ControlPlane, role, name, ttl string) wire.TokenResponse {
	t.Helper()
	out, err := cp.Admin.CreateToken(context.Background(), wire.TokenRequest{Role: role, Name: name, TTL: ttl})
	if err != nil {
		t.Fatalf("create %s token: %v", role, err)
	}
	return out
}

// TestRoles is issue 11's "there is only admin": a deployer deploys but
// cannot mint tokens, set the policy, read the audit log or touch nodes;
// a viewer only reads.
func TestRoles(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	testutil.StartHandAgent(t, cp.Agent, "n1", 4096, 4096, nil)
	dep := mint(t, cp, "deployer", "ci", "24h")
	view := mint(t, cp, "viewer", "alice", "")
	if !strings.HasPrefix(dep.Token, "orchdep_") || dep.ExpiresAt == nil || time.Until(*dep.ExpiresAt) < 23*time.Hour {
		t.Fatalf("deployer token %+v: want an orchdep_ token expiring in 24h", dep)
	}
	td, _ := json.Marshal(testutil.TaskDef("web", 64))
	applyBody := wire.ApplyRequest{Documents: []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: td}}}
	deployerMay := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/apply", applyBody},
		{"POST", "/v1/tasks", map[string]any{"taskDefinition": "web"}},
		{"POST", "/v1/services", map[string]any{"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}},
		{"POST", "/v1/queues", map[string]any{"QueueName": "jobs"}},
		{"GET", "/v1/tasks", nil},
		{"GET", "/v1/policy", nil},
	}
	for _, c := range deployerMay {
		if code, e, _ := call(t, cp.URL, dep.Token, c.method, c.path, c.body); code >= 300 {
			t.Errorf("deployer %s %s: %d %s, want success", c.method, c.path, code, e.Message)
		}
	}
	adminOnly := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/tokens", map[string]any{"role": "admin"}},
		{"GET", "/v1/tokens", nil},
		{"DELETE", "/v1/tokens/alice", nil},
		{"POST", "/v1/join-tokens", nil},
		{"PUT", "/v1/policy", model.DefaultClusterPolicy()},
		{"GET", "/v1/audit", nil},
		{"POST", "/v1/nodes/n1/drain", nil},
		{"DELETE", "/v1/nodes/n1", nil},
	}
	for _, c := range adminOnly {
		code, e, _ := call(t, cp.URL, dep.Token, c.method, c.path, c.body)
		if code != 403 || !strings.Contains(e.Message, "a deployer token may deploy") || !strings.Contains(e.Message, "use an admin token") {
			t.Errorf("deployer %s %s: %d %q, want 403 saying what a deployer may do", c.method, c.path, code, e.Message)
		}
	}
	for _, c := range deployerMay[:4] {
		code, e, _ := call(t, cp.URL, view.Token, c.method, c.path, c.body)
		if code != 403 || !strings.Contains(e.Message, "a viewer token may only read") {
			t.Errorf("viewer %s %s: %d %q, want 403", c.method, c.path, code, e.Message)
		}
	}
	if code, _, _ := call(t, cp.URL, view.Token, "GET", "/v1/services", nil); code != 200 {
		t.Errorf("viewer reading services: %d", code)
	}
	// The node was not drained or removed by the refused calls (read
	// from the watch cache, which may still be catching up with the
	// registration: poll).
	testutil.WaitFor(t, 10*time.Second, "node n1 active after the deployer's refused drain", func() (bool, string) {
		n, _, err := cp.Admin.GetNode(ctx, "n1")
		if err != nil {
			return false, err.Error()
		}
		return n.Status == model.NodeActive, "status " + string(n.Status)
	})
}

// TestTokensListExpireRevoke: tokens are listed without secrets, stop
// working when they expire or are revoked, and the last admin token
// cannot be revoked.
func TestTokensListExpireRevoke(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	ci := mint(t, cp, "deployer", "ci", "")
	short := mint(t, cp, "viewer", "temp", "2s")

	code, _, raw := call(t, cp.URL, cp.Bootstrap.AdminToken, "GET", "/v1/tokens", nil)
	if code != 200 {
		t.Fatalf("list tokens: %d %s", code, raw)
	}
	for _, secret := range []string{ci.Token, short.Token, cp.Bootstrap.AdminToken, cp.Bootstrap.JoinToken} {
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(secret[8:])) {
			t.Fatalf("the token list shows a secret: %s", raw)
		}
	}
	toks, err := cp.Admin.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, tk := range toks {
		names[tk.Name] = string(tk.Role)
	}
	for name, role := range map[string]string{"admin": "admin", "join": "agent", "ci": "deployer", "temp": "viewer"} {
		if names[name] != role {
			t.Errorf("token list %v: want %s with role %s", names, name, role)
		}
	}

	// Expiry: the short-lived token works, then is refused saying why.
	if code, e, _ := call(t, cp.URL, short.Token, "GET", "/v1/tasks", nil); code != 200 {
		t.Fatalf("a fresh 2s token: %d %s", code, e.Message)
	}
	testutil.WaitFor(t, 10*time.Second, "the 2s token expired", func() (bool, string) {
		code, e, _ := call(t, cp.URL, short.Token, "GET", "/v1/tasks", nil)
		return code == 401 && strings.Contains(e.Message, "expired at"), fmt.Sprint(code, " ", e.Message)
	})

	// Revocation by name: refused at once on this server.
	if code, e, _ := call(t, cp.URL, ci.Token, "GET", "/v1/tasks", nil); code != 200 {
		t.Fatalf("ci token before revoking: %d %s", code, e.Message)
	}
	if m, err := cp.Admin.RevokeToken(ctx, "ci"); err != nil || m.ID != ci.ID {
		t.Fatalf("revoke ci: %+v %v (want id %s)", m, err, ci.ID)
	}
	if code, _, _ := call(t, cp.URL, ci.Token, "GET", "/v1/tasks", nil); code != 401 {
		t.Fatalf("ci token after revoking: %d, want 401", code)
	}
	if _, err := cp.Admin.RevokeToken(ctx, "nosuch"); err == nil || !strings.Contains(err.Error(), "orch token ls") {
		t.Fatalf("revoking an unknown token: %v", err)
	}
	// The last admin token stays; after another exists it may go.
	if _, err := cp.Admin.RevokeToken(ctx, "admin"); err == nil || !strings.Contains(err.Error(), "last admin token") {
		t.Fatalf("revoking the last admin token: %v, want refused", err)
	}
	next := mint(t, cp, "admin", "admin-2026", "")
	admin2 := client.New(client.Config{Servers: []string{cp.URL}, Token: next.Token})
	if _, err := admin2.RevokeToken(ctx, "admin"); err != nil {
		t.Fatalf("rotating the bootstrap admin token: %v", err)
	}
	if _, err := cp.Admin.ListTokens(ctx); err == nil {
		t.Fatal("the revoked bootstrap admin token still works")
	}
	if _, err := admin2.CreateToken(ctx, wire.TokenRequest{Role: "root"}); err == nil || !strings.Contains(err.Error(), "role: role \"root\": a user token's role is admin, deployer or viewer") {
		t.Fatalf("an unknown role: %v", err)
	}
	if _, err := admin2.CreateToken(ctx, wire.TokenRequest{Role: "viewer", TTL: "forever"}); err == nil || !strings.Contains(err.Error(), "ttl: must be a positive duration") {
		t.Fatalf("a bad ttl: %v", err)
	}
}

// TestAuditLog: every write is recorded with who, what and how it ended
// (refusals too), readable newest first in pages, never with a secret.
func TestAuditLog(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	dep := mint(t, cp, "deployer", "ci", "")
	deployer := client.New(client.Config{Servers: []string{cp.URL}, Token: dep.Token})
	applyTD(t, deployer, testutil.TaskDef("web", 64))
	if _, err := deployer.NewJoinToken(ctx); err == nil {
		t.Fatal("a deployer minted a join token")
	}
	if _, err := deployer.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "nosuch"}); err == nil {
		t.Fatal("running an unknown task definition succeeded")
	}
	var entries []model.AuditEntry
	testutil.WaitFor(t, 10*time.Second, "4 audit entries (token, apply, join token, run)", func() (bool, string) {
		page, err := cp.Admin.ListAudit(ctx, "", 100, "")
		if err != nil {
			return false, err.Error()
		}
		entries = page.Entries
		return len(entries) >= 4, fmt.Sprint(len(entries), " entries")
	})
	// Newest first.
	want := []struct{ actor, what, outcome, object string }{
		{"ci", "POST /v1/tasks", model.AuditFailed, "run nosuch"},
		{"ci", "POST /v1/join-tokens", model.AuditDenied, ""},
		{"ci", "POST /v1/apply", model.AuditOK, "TaskDefinition/web created"},
		{"admin", "POST /v1/tokens", model.AuditOK, "token " + dep.ID + " (ci, role deployer)"},
	}
	for i, w := range want {
		e := entries[i]
		if e.Actor != w.actor || e.Method+" "+e.Path != w.what || e.Outcome != w.outcome || e.Object != w.object || e.Time.IsZero() {
			t.Errorf("entry %d: %+v\nwant actor %s, %s, outcome %s, object %q", i, e, w.actor, w.what, w.outcome, w.object)
		}
	}
	if entries[1].Status != 403 || !strings.Contains(entries[1].Error, "a deployer token may deploy") {
		t.Errorf("the refused write's entry: %+v", entries[1])
	}
	raw, _ := json.Marshal(entries)
	if bytes.Contains(raw, []byte(dep.Token)) {
		t.Fatal("the audit log holds a token")
	}
	// Paging: one at a time walks the same entries.
	page, err := cp.Admin.ListAudit(ctx, "", 1, "")
	if err != nil || len(page.Entries) != 1 || page.NextToken == "" {
		t.Fatalf("first page of 1: %+v %v", page, err)
	}
	page2, err := cp.Admin.ListAudit(ctx, "", 1, page.NextToken)
	if err != nil || len(page2.Entries) != 1 || page2.Entries[0].ID != entries[1].ID {
		t.Fatalf("second page of 1: %+v %v, want entry %s", page2, err, entries[1].ID)
	}
	// By actor.
	mine, err := cp.Admin.ListAudit(ctx, "admin", 100, "")
	if err != nil || len(mine.Entries) != 1 || mine.Entries[0].Path != "/v1/tokens" {
		t.Fatalf("admin's entries: %+v %v", mine, err)
	}
	if _, err := deployer.ListAudit(ctx, "", 10, ""); err == nil {
		t.Fatal("a deployer read the audit log")
	}
}

// TestClusterPolicy is issue 11's "admin is root on every host": host
// volumes of the Docker socket and / are refused by default, with the
// rule and field path named; an admin may change the policy, a deployer
// may not; a task definition registered before a rule was tightened can
// no longer be run.
func TestClusterPolicy(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	dep := mint(t, cp, "deployer", "ci", "")
	deployer := client.New(client.Config{Servers: []string{cp.URL}, Token: dep.Token})
	sock := testutil.TaskDef("sock", 64)
	sock.Volumes = []model.Volume{{Name: "docker", Host: &model.HostVolumeSource{SourcePath: "/var/run/docker.sock"}}}
	sock.ContainerDefinitions[0].MountPoints = []model.MountPoint{{SourceVolume: "docker", ContainerPath: "/var/run/docker.sock"}}
	spec, _ := json.Marshal(sock)
	_, err := deployer.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 400 ||
		!strings.Contains(ce.Message, `containerDefinitions[0].mountPoints[0]: volume "docker": host path /var/run/docker.sock is denied by the cluster policy (rule: deniedHostPaths; it lies under /var/run, which is denied)`) ||
		!strings.Contains(ce.Message, "orch policy set") {
		t.Fatalf("mounting the Docker socket: %v, want 400 naming the rule and the field", err)
	}
	root := testutil.TaskDef("root", 64)
	root.Volumes = []model.Volume{{Name: "all", Host: &model.HostVolumeSource{SourcePath: "/"}}}
	root.ContainerDefinitions[0].MountPoints = []model.MountPoint{{SourceVolume: "all", ContainerPath: "/host"}}
	if code, e, _ := call(t, cp.URL, cp.Bootstrap.AdminToken, "POST", "/v1/taskdefinitions", root); code != 400 || !strings.Contains(e.Message, "host path / is denied by the cluster policy (rule: deniedHostPaths") {
		t.Fatalf("an admin mounting /: %d %q, want 400: the policy binds admins too until they change it", code, e.Message)
	}
	hostnet := testutil.TaskDef("hostnet", 64)
	hostnet.NetworkMode = "host"
	if code, e, _ := call(t, cp.URL, dep.Token, "POST", "/v1/taskdefinitions", hostnet); code != 400 || !strings.Contains(e.Message, "networkMode: networkMode host is denied by the cluster policy (rule: allowHostNetwork)") {
		t.Fatalf("host networking: %d %q", code, e.Message)
	}
	// A data directory is fine by default.
	data := testutil.TaskDef("data", 64)
	data.Volumes = []model.Volume{{Name: "d", Host: &model.HostVolumeSource{SourcePath: "/srv/data"}}}
	data.ContainerDefinitions[0].MountPoints = []model.MountPoint{{SourceVolume: "d", ContainerPath: "/data"}}
	applyTD(t, deployer, data)

	// Only an admin changes the policy.
	if _, err := deployer.SetPolicy(ctx, model.ClusterPolicy{AllowRoot: true}); err == nil {
		t.Fatal("a deployer set the cluster policy")
	}
	if _, err := cp.Admin.SetPolicy(ctx, model.ClusterPolicy{DeniedHostPaths: []string{"relative/path"}}); err == nil || !strings.Contains(err.Error(), "deniedHostPaths[0]: must be an absolute, clean path") {
		t.Fatalf("an invalid policy: %v", err)
	}
	pol := model.DefaultClusterPolicy()
	pol.AllowedHostPaths = []string{"/data"}
	pol.AllowRoot = false
	if _, err := cp.Admin.SetPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	// The definition registered before is no longer run or deployed.
	_, err = deployer.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "data"})
	if !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, "taskDefinition: task definition data:1 breaks the cluster policy") ||
		!strings.Contains(ce.Message, "rule: allowedHostPaths") || !strings.Contains(ce.Message, "containerDefinitions[0].user") {
		t.Fatalf("running a definition the new policy forbids: %v", err)
	}
	if _, _, err := deployer.ApplyService(ctx, &model.Service{ServiceName: "data", TaskDefinition: "data", DesiredCount: testutil.Mem(1)}); err == nil || !strings.Contains(err.Error(), "breaks the cluster policy") {
		t.Fatalf("deploying a service of it: %v", err)
	}
	// Complying: under /data, as a non-root user.
	ok := testutil.TaskDef("ok", 64)
	ok.Volumes = []model.Volume{{Name: "d", Host: &model.HostVolumeSource{SourcePath: "/data/app"}}}
	ok.ContainerDefinitions[0].MountPoints = []model.MountPoint{{SourceVolume: "d", ContainerPath: "/data"}}
	ok.ContainerDefinitions[0].User = "1000:1000"
	applyTD(t, deployer, ok)
	if _, err := deployer.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "ok"}); err != nil {
		t.Fatalf("running a complying definition: %v", err)
	}
	got, err := deployer.GetPolicy(ctx)
	if err != nil || got.AllowRoot || len(got.AllowedHostPaths) != 1 {
		t.Fatalf("the policy as a deployer reads it: %+v %v", got, err)
	}
}
