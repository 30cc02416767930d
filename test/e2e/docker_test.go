package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// needDocker fails in CI (CI=true) and skips elsewhere when Docker or the
// example images are missing.
func needDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker is required in CI: %v", err)
		}
		t.Skipf("Docker is not reachable (%v); start dockerd to run the end-to-end Docker tests", err)
	}
	for _, img := range []string{"orch-example/web:latest", "orch-example/job:latest", "orch-example/tools:latest"} {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Fatalf("image %s is missing: run `make images` first", img)
		}
	}
}

// dockerCluster is orch server + one orchlet on the real Docker, with the
// containers it makes removed at the end.
func dockerCluster(t *testing.T) (*cluster, string) {
	t.Helper()
	needDocker(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	node := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1e9)
	c.startAgent(t, node, "--runtime", "docker", "--listen", freeAddr(t))
	t.Cleanup(func() { removeNodeContainers(node) })
	waitNodes(t, c, 1)
	return c, node
}

func removeNodeContainers(node string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.node="+node).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

func nodeContainers(t *testing.T, node string, running bool) []string {
	t.Helper()
	args := []string{"ps", "-q", "--no-trunc", "--filter", "label=orch.node=" + node}
	if !running {
		args = append(args, "-a")
	}
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func applyJSON(t *testing.T, c *cluster, td string) {
	t.Helper()
	out, code := c.orch(t, td, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("apply: %s", out)
	}
}

func runOne(t *testing.T, c *cluster, family string) string {
	t.Helper()
	// With a client token, as orch run sends: a write whose outcome is
	// unknown (an etcd member killed mid-write) is retried safely.
	tasks, err := c.admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: family, ClientToken: client.NewClientToken()})
	if err != nil {
		t.Fatal(err)
	}
	return tasks[0].TaskID
}

func waitTask(t *testing.T, c *cluster, id string, timeout time.Duration, cond func(*model.Task) bool) *model.Task {
	t.Helper()
	return testutil.WaitTask(t, c.admin, id, timeout, cond)
}

func running(t *model.Task) bool { return t.LastStatus == model.StatusRunning }
func stopped(t *model.Task) bool { return t.IsStopped() }

func TestDockerWebTaskLifecycle(t *testing.T) {
	c, node := dockerCluster(t)
	applyJSON(t, c, `{"family":"e2eweb","containerDefinitions":[{"name":"web","image":"orch-example/web:latest","memory":64,
		"portMappings":[{"containerPort":8080,"hostPort":0}],
		"healthCheck":{"command":["CMD","/web","-check","http://127.0.0.1:8080/healthz"],"interval":5,"timeout":2,"retries":2},
		"stopTimeout":5}]}`)
	id := runOne(t, c, "e2eweb")
	task := waitTask(t, c, id, 60*time.Second, running)
	if len(task.Containers) != 1 || len(task.Containers[0].NetworkBindings) == 0 {
		t.Fatalf("running web task has no network binding: %+v", task.Containers)
	}
	port := task.Containers[0].NetworkBindings[0].HostPort
	if port == 0 || port == 8080 {
		t.Fatalf("dynamic host port = %d, want one Docker picked", port)
	}
	// RUNNING means the container started (as in ECS), not that the app
	// listens yet: a loaded machine may take a while to get there.
	body := getWithin(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 60*time.Second)
	if !strings.Contains(body, "hello from orch web") {
		t.Fatalf("web answered %q", body)
	}
	waitTask(t, c, id, 60*time.Second, func(t *model.Task) bool { return t.HealthStatus == model.HealthHealthy })

	logs := c.mustOrch(t, "logs", id)
	if !strings.Contains(logs, "web listening on :8080") || !strings.Contains(logs, "GET / 200") {
		t.Fatalf("orch logs:\n%s\nwant the start line and the request we made", logs)
	}
	// orch logs came over mutual TLS (the cluster is TLS by default): the
	// agent's log port refuses plain HTTP (issue 11 item 5).
	nv, _, err := c.admin.GetNode(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + nv.Address + "/logs/" + id); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "listening") {
			t.Fatalf("plain HTTP to the agent's log port %s: %d %q, want 400 (it speaks TLS only)", nv.Address, resp.StatusCode, b)
		}
	}
	c.mustOrch(t, "stop", id)
	task = waitTask(t, c, id, 30*time.Second, stopped)
	ec := task.Containers[0].ExitCode
	if task.StopCode != model.StopUserInitiated || ec == nil || *ec != 0 {
		t.Fatalf("stopped web: stopCode %s exit %v, want UserInitiated and 0 (graceful SIGTERM)", task.StopCode, ec)
	}
	// Logs stay readable after the stop (containers are kept for a while).
	if logs := c.mustOrch(t, "logs", id, "--tail", "1"); !strings.Contains(logs, "web: bye") {
		t.Fatalf("logs --tail 1 after stop: %q, want the goodbye line", logs)
	}
}

// getWithin GETs url until it answers 200 or timeout passes, and returns
// the body.
func getWithin(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %d, body %q, read error %v", resp.StatusCode, body, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer within %v: %v", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDockerEssentialExitAndDependsOn(t *testing.T) {
	c, _ := dockerCluster(t)
	// init must succeed before app starts; app exits 3 and is essential.
	applyJSON(t, c, `{"family":"e2edeps","containerDefinitions":[
		{"name":"init","image":"orch-example/job:latest","memory":16,"essential":false,"command":["-sleep","1s","init"]},
		{"name":"app","image":"orch-example/job:latest","memory":16,"command":["-exit","3","app"],
		 "dependsOn":[{"containerName":"init","condition":"SUCCESS"}]}]}`)
	id := runOne(t, c, "e2edeps")
	task := waitTask(t, c, id, 60*time.Second, stopped)
	if task.StopCode != model.StopEssentialContainerExited {
		t.Fatalf("stopCode %s (%s), want EssentialContainerExited", task.StopCode, task.StoppedReason)
	}
	byName := map[string]model.Container{}
	for _, ct := range task.Containers {
		byName[ct.Name] = ct
	}
	if ec := byName["app"].ExitCode; ec == nil || *ec != 3 {
		t.Fatalf("app exit code %v, want 3", ec)
	}
	if ec := byName["init"].ExitCode; ec == nil || *ec != 0 {
		t.Fatalf("init exit code %v, want 0", ec)
	}
	// Docker's own timestamps show the order: init finished before app started.
	initEnd := inspectTime(t, byName["init"].RuntimeID, "{{.State.FinishedAt}}")
	appStart := inspectTime(t, byName["app"].RuntimeID, "{{.State.StartedAt}}")
	if appStart.Before(initEnd) {
		t.Fatalf("app started at %v before init finished at %v (dependsOn SUCCESS)", appStart, initEnd)
	}
	if out := c.mustOrch(t, "logs", id, "-c", "init"); !strings.Contains(out, "args: init") {
		t.Fatalf("logs -c init: %q", out)
	}
}

func inspectTime(t *testing.T, id, format string) time.Time {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", format, id).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestDockerFailuresToStart(t *testing.T) {
	c, _ := dockerCluster(t)
	applyJSON(t, c, `{"family":"e2enoimage","containerDefinitions":[{"name":"a","image":"orch-example/missing:nope","memory":16,"imagePullPolicy":"never"}]}`)
	applyJSON(t, c, `{"family":"e2enocmd","containerDefinitions":[{"name":"a","image":"orch-example/tools:latest","memory":16,"entryPoint":["/nope"]}]}`)
	applyJSON(t, c, `{"family":"e2eunhealthy","containerDefinitions":[{"name":"a","image":"orch-example/web:latest","memory":32,
		"healthCheck":{"command":["CMD","/web","-check","http://127.0.0.1:9/"],"interval":5,"timeout":2,"retries":1}}]}`)
	noImage, noCmd, unhealthy := runOne(t, c, "e2enoimage"), runOne(t, c, "e2enocmd"), runOne(t, c, "e2eunhealthy")
	task := waitTask(t, c, noImage, 60*time.Second, stopped)
	if task.StopCode != model.StopTaskFailedToStart || !strings.Contains(task.StoppedReason, "orch-example/missing:nope") {
		t.Fatalf("missing image: %s %q, want TaskFailedToStart naming the image", task.StopCode, task.StoppedReason)
	}
	task = waitTask(t, c, noCmd, 60*time.Second, stopped)
	if task.StopCode != model.StopTaskFailedToStart || !strings.Contains(task.StoppedReason, "/nope") {
		t.Fatalf("bad command: %s %q, want TaskFailedToStart with Docker's error", task.StopCode, task.StoppedReason)
	}
	waitTask(t, c, unhealthy, 60*time.Second, func(t *model.Task) bool { return t.HealthStatus == model.HealthUnhealthy })
}

// TestDockerAgentKill9KeepsContainers kills orchlet with SIGKILL and starts
// it again: the containers keep running, are adopted, and none is duplicated.
func TestDockerAgentKill9KeepsContainers(t *testing.T) {
	needDocker(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	node := fmt.Sprintf("e2e-k9-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	agent := c.startAgent(t, node, "--runtime", "docker")
	waitNodes(t, c, 1)
	applyJSON(t, c, `{"family":"e2ek9","containerDefinitions":[{"name":"web","image":"orch-example/web:latest","memory":32}]}`)
	tasks, err := c.admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "e2ek9", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, tk := range tasks {
		got := waitTask(t, c, tk.TaskID, 60*time.Second, running)
		before[tk.TaskID] = got.Containers[0].RuntimeID
	}
	ids := nodeContainers(t, node, true)
	if len(ids) != 2 {
		t.Fatalf("%d running containers before the kill, want 2", len(ids))
	}
	agent.kill(syscall.SIGKILL)
	agent.wait(t, 60*time.Second)
	if got := nodeContainers(t, node, true); len(got) != 2 {
		t.Fatalf("%d containers running right after kill -9 of the agent, want 2", len(got))
	}
	c.startAgent(t, node, "--runtime", "docker")
	// The restarted agent comes back alive, adopts both containers and
	// restarts or duplicates nothing.
	testutil.WaitFor(t, 30*time.Second, "agent back", func() (bool, string) {
		n, _, err := c.admin.GetNode(context.Background(), node)
		if err != nil {
			return false, err.Error()
		}
		return n.Alive, "not alive"
	})
	for id, cid := range before {
		got := waitTask(t, c, id, 60*time.Second, running)
		if got.Containers[0].RuntimeID != cid {
			t.Fatalf("task %s container changed from %s to %s after the agent restart", id, cid[:12], got.Containers[0].RuntimeID)
		}
	}
	all := nodeContainers(t, node, false)
	if len(all) != 2 {
		t.Fatalf("%d containers (any state) after the restart, want the same 2", len(all))
	}
	for _, id := range all {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.RestartCount}} {{.State.Running}}", id).Output()
		if strings.TrimSpace(string(out)) != "0 true" {
			t.Fatalf("container %s: restarts/running = %q, want \"0 true\"", id[:12], out)
		}
	}
	// Still controllable after adoption.
	for id := range before {
		c.mustOrch(t, "stop", id)
		waitTask(t, c, id, 30*time.Second, stopped)
	}
}
