package e2e

import (
	"context"
	"encoding/json"
	"github.com/orch-project/orch/pkg/pki"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func getTasks(t *testing.T, c *cluster) []model.Task {
	t.Helper()
	var tasks []model.Task
	if err := json.Unmarshal([]byte(c.mustOrch(t, "get", "tasks", "-o", "json")), &tasks); err != nil {
		t.Fatal(err)
	}
	return tasks
}

func waitNodes(t *testing.T, c *cluster, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a loaded machine starts hosts slowly
	for time.Now().Before(deadline) {
		var nodes []wire.NodeView
		out, code := c.orch(t, "", "get", "nodes", "-o", "json")
		if code == 0 && json.Unmarshal([]byte(out), &nodes) == nil {
			alive := 0
			for _, nd := range nodes {
				if nd.Alive {
					alive++
				}
			}
			if alive >= n {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fewer than %d nodes alive after 60s", n)
}

const webManifest = `kind: TaskDefinition
family: web
containerDefinitions:
  - name: web
    image: fake
    memory: 64
    environment:
      - name: GREETING
        value: %s
`

// TestCLIAgainstRealBinaries drives orch server + orchlet (fake runtime)
// through the built orch CLI, as a user would.
func TestCLIAgainstRealBinaries(t *testing.T) {
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	c.startAgent(t, "n1", "--runtime", "fake", "--cpu", "4096", "--memory", "4096")
	waitNodes(t, c, 1)
	dir := t.TempDir()

	web := writeFile(t, dir, "web.yaml", strings.Replace(webManifest, "%s", "hello", 1))
	if out := c.mustOrch(t, "apply", "-f", web); !strings.Contains(out, "taskdefinition/web:1 created") {
		t.Fatalf("first apply printed:\n%s\nwant taskdefinition/web:1 created", out)
	}
	if out := c.mustOrch(t, "apply", "-f", web); !strings.Contains(out, "taskdefinition/web:1 unchanged") {
		t.Fatalf("re-apply printed:\n%s\nwant taskdefinition/web:1 unchanged", out)
	}
	web2 := writeFile(t, dir, "web.yaml", strings.Replace(webManifest, "%s", "bonjour", 1))
	if out := c.mustOrch(t, "apply", "-f", web2); !strings.Contains(out, "taskdefinition/web:2 configured") {
		t.Fatalf("changed apply printed:\n%s\nwant taskdefinition/web:2 configured", out)
	}

	// One invalid document means nothing is applied, and the error points at it.
	bad := writeFile(t, dir, "bad.yaml", "kind: TaskDefinition\nfamily: fine\ncontainerDefinitions:\n  - name: a\n    image: fake\n    memory: 64\n---\nkind: TaskDefinition\nfamily: broken\ncontainerDefinitions:\n  - name: a\n    image: fake\n    memory: 2\n")
	out, code := c.orch(t, "", "apply", "-f", bad)
	if code == 0 || !strings.Contains(out, "bad.yaml:13:13: containerDefinitions[0].memory") {
		t.Fatalf("invalid apply: exit %d\n%s\nwant non-zero and bad.yaml:13:13: containerDefinitions[0].memory", code, out)
	}
	if out := c.mustOrch(t, "get", "taskdefinitions"); strings.Contains(out, "fine:") {
		t.Fatalf("a document was applied although another was invalid:\n%s", out)
	}

	// A real ECS describe-task-definition output applies from stdin; fields
	// Orch does not act on are reported.
	ecs := `{"taskDefinition":{"taskDefinitionArn":"arn:aws:ecs:us-east-1:123456789012:task-definition/ecsweb:7","family":"ecsweb","revision":7,"status":"ACTIVE",
"executionRoleArn":"arn:aws:iam::123456789012:role/ecsTaskExecutionRole","networkMode":"bridge","requiresCompatibilities":["EC2"],
"containerDefinitions":[{"name":"web","image":"fake","cpu":128,"memory":128,"essential":true,"portMappings":[{"containerPort":80,"hostPort":0,"protocol":"tcp"}],
"secrets":[{"name":"DB","valueFrom":"arn:aws:ssm:us-east-1:123456789012:parameter/db"}],"logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/web"}}}],
"compatibilities":["EC2"],"registeredAt":"2024-05-01T10:00:00.000Z","registeredBy":"arn:aws:iam::123456789012:user/x"},"tags":[]}`
	out, code = c.orch(t, ecs, "apply", "-f", "-")
	if code != 0 || !strings.Contains(out, "taskdefinition/ecsweb:1 created") || !strings.Contains(out, "executionRoleArn") || !strings.Contains(out, "containerDefinitions[0].secrets") {
		t.Fatalf("ECS JSON apply: exit %d\n%s\nwant created with ignored executionRoleArn and containerDefinitions[0].secrets", code, out)
	}

	// Run two tasks and wait for them.
	out = c.mustOrch(t, "run", "web", "--count", "2", "--wait")
	if strings.Count(out, "RUNNING") < 2 {
		t.Fatalf("run --wait printed:\n%s\nwant two tasks RUNNING", out)
	}
	tasks := getTasks(t, c)
	running := 0
	for _, tk := range tasks {
		if tk.Family == "web" && tk.LastStatus == model.StatusRunning && tk.NodeName == "n1" && tk.Revision == 2 {
			running++
		}
	}
	if running != 2 {
		t.Fatalf("get tasks -o json: %d web:2 tasks RUNNING on n1, want 2", running)
	}

	// Stop one by its short id.
	id := tasks[0].TaskID
	c.mustOrch(t, "stop", id[:8], "--reason", "e2e done", "--wait")
	var got model.Task
	if err := json.Unmarshal([]byte(c.mustOrch(t, "get", "tasks", id, "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.LastStatus != model.StatusStopped || got.StopCode != model.StopUserInitiated || got.StoppedReason != "e2e done" {
		t.Fatalf("stopped task: %s %s %q, want STOPPED UserInitiated \"e2e done\"", got.LastStatus, got.StopCode, got.StoppedReason)
	}

	// A job whose essential container exits 3: run --wait reports it and fails.
	job := writeFile(t, dir, "job.yaml", "kind: TaskDefinition\nfamily: job\ncontainerDefinitions:\n  - name: job\n    image: fake\n    memory: 16\n    environment:\n      - {name: ORCH_FAKE, value: \"run_for=300ms,exit_code=3\"}\n")
	c.mustOrch(t, "apply", "-f", job)
	out, code = c.orch(t, "", "run", "job", "--wait", "--until", "stopped")
	if code != 3 || !strings.Contains(out, "exited with code 3") {
		t.Fatalf("run job --wait: exit %d\n%s\nwant exit 3 naming the exit code", code, out)
	}
	for _, tk := range getTasks(t, c) {
		if tk.Family == "job" && (tk.StopCode != model.StopEssentialContainerExited || tk.Containers[0].ExitCode == nil || *tk.Containers[0].ExitCode != 3) {
			t.Fatalf("job task: stopCode %s containers %+v, want EssentialContainerExited with exit code 3", tk.StopCode, tk.Containers)
		}
	}

	// Describe shows the history.
	if out := c.mustOrch(t, "describe", "task", id); !strings.Contains(out, "Events:") || !strings.Contains(out, "placed on node n1") {
		t.Fatalf("describe task:\n%s\nwant an Events section with the placement", out)
	}

	// run --wait -o json prints JSON alone on stdout (progress goes to
	// stderr), and the taskArn it shows names the task for every verb.
	out = c.orchStdout(t, "run", "web", "--wait", "-o", "json")
	var ran []model.Task
	if err := json.Unmarshal([]byte(out), &ran); err != nil || len(ran) != 1 || ran[0].LastStatus != model.StatusRunning {
		t.Fatalf("run --wait -o json stdout:\n%s\nwant a JSON list of one RUNNING task (err %v)", out, err)
	}
	arn := ran[0].TaskArn
	if out := c.mustOrch(t, "describe", "task", arn); !strings.Contains(out, ran[0].TaskID) {
		t.Fatalf("describe task %s:\n%s\nwant the task", arn, out)
	}
	c.mustOrch(t, "stop", arn, "--wait")
}

func TestOrchletRejectsWrongJoinToken(t *testing.T) {
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	// The right CA pin (so TLS succeeds), a wrong secret.
	pin, _ := pki.PinFromJoinToken(c.cfg.JoinToken)
	p := start(t, append(c.env, "ORCH_JOIN_TOKEN="+pki.JoinTokenPrefix(pin)+"wrong"), "orchlet", "--server", c.urls[0], "--runtime", "fake")
	if code := p.wait(t, 30*time.Second); code == 0 {
		t.Fatalf("orchlet with a wrong token exited 0:\n%s", p.Output())
	}
	if !strings.Contains(p.Output(), "rejected the join token") {
		t.Fatalf("orchlet output:\n%s\nwant a clear message about the join token", p.Output())
	}
}

// Issue 11 item 5: an agent given only a join token trusts the server
// because the token pins the cluster CA; a token pinning another CA (a
// server impersonated, or the wrong cluster) makes it refuse the server
// before it sends the token. The token comes from a file, not argv.
func TestOrchletTrustsOnlyThePinnedCA(t *testing.T) {
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	if !strings.HasPrefix(c.urls[0], "https://") {
		t.Fatalf("orch server serves %s, want TLS by default", c.urls[0])
	}
	_, secret, _ := strings.Cut(strings.TrimPrefix(c.cfg.JoinToken, "orchjoin_"), "_")
	other, err := pki.NewCA("another cluster")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrong := writeFile(t, dir, "wrong-token", pki.JoinTokenPrefix(other.Pin())+secret+"\n")
	p := start(t, c.env, "orchlet", "--server", c.urls[0], "--join-token-file", wrong, "--node-name", "pin-rogue", "--runtime", "fake")
	if code := p.wait(t, 30*time.Second); code == 0 {
		t.Fatalf("orchlet pinning another CA exited 0:\n%s", p.Output())
	}
	if !strings.Contains(p.Output(), "does not match the join token's pin") {
		t.Fatalf("orchlet output:\n%s\nwant a refusal naming the pin", p.Output())
	}
	// The right token, from a file: the agent joins with nothing else.
	right := writeFile(t, dir, "token", c.cfg.JoinToken+"\n")
	a := start(t, c.env, "orchlet", "--server", c.urls[0], "--join-token-file", right, "--node-name", "pin-ok", "--runtime", "fake")
	waitNodes(t, c, 1)
	nodes, err := c.admin.ListNodes(context.Background())
	if err != nil || len(nodes) != 1 || nodes[0].Name != "pin-ok" {
		t.Fatalf("nodes %+v, %v: want only pin-ok", nodes, err)
	}
	// The server prints the token once at creation (its terminal); its
	// log lines (time=...) and the agent's never carry it.
	logs := a.Output()
	for _, l := range strings.Split(c.procs[0].Output(), "\n") {
		if strings.HasPrefix(l, "time=") {
			logs += l + "\n"
		}
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the join token appears in a log:\n%s", logs)
	}
}
