package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// TestDockerTaskEndpointsSurviveAgentRestart: with the default
// --task-endpoint-listen (no fixed port), an agent killed with SIGKILL and
// restarted serves the ECS_AGENT_URI and ECS_CONTAINER_METADATA_URI_V4 its
// adopted container was started with. The URLs name host.docker.internal
// (the host gateway, which the listener on 0.0.0.0 serves); the test calls
// the same port and path on 127.0.0.1 from the host.
func TestDockerTaskEndpointsSurviveAgentRestart(t *testing.T) {
	needDocker(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	node := fmt.Sprintf("e2e-tep-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	agent := c.startAgent(t, node, "--runtime", "docker")
	waitNodes(t, c, 1)
	applyJSON(t, c, `{"family":"e2etep","containerDefinitions":[{"name":"app","image":"orch-example/tools:latest","command":["sleep","300"],"memory":32}]}`)
	tasks, err := c.admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "e2etep"})
	if err != nil {
		t.Fatal(err)
	}
	tk := waitTask(t, c, tasks[0].TaskID, 60*time.Second, running)
	ids := nodeContainers(t, node, true)
	if len(ids) != 1 {
		t.Fatalf("%d running containers, want 1", len(ids))
	}
	out, err := exec.Command("docker", "inspect", "-f", `{{range .Config.Env}}{{println .}}{{end}}`, ids[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	fromHost := func(u string) string { return strings.Replace(u, "host.docker.internal", "127.0.0.1", 1) }
	agentURI, metaURI := fromHost(env["ECS_AGENT_URI"]), fromHost(env["ECS_CONTAINER_METADATA_URI_V4"])
	if !strings.HasPrefix(agentURI, "http://127.0.0.1:") || !strings.HasPrefix(metaURI, "http://127.0.0.1:") {
		t.Fatalf("ECS_AGENT_URI %q, ECS_CONTAINER_METADATA_URI_V4 %q: want http://host.docker.internal:PORT/...", env["ECS_AGENT_URI"], env["ECS_CONTAINER_METADATA_URI_V4"])
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	answers := func(u, want string) (bool, string) {
		resp, err := hc.Get(u)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(b), want), fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	check := func(when string) {
		testutil.WaitFor(t, 30*time.Second, "the task's protection endpoint "+when, func() (bool, string) {
			return answers(agentURI+"/task-protection/v1/state", tk.TaskArn)
		})
		testutil.WaitFor(t, 30*time.Second, "the task's metadata endpoint "+when, func() (bool, string) {
			return answers(metaURI+"/task", tk.TaskArn)
		})
	}
	check("before the restart")

	agent.kill(syscall.SIGKILL)
	agent.wait(t, 60*time.Second)
	c.startAgent(t, node, "--runtime", "docker")
	check("after the agent restarted")
	if got := waitTask(t, c, tk.TaskID, 30*time.Second, running); got.Containers[0].RuntimeID != tk.Containers[0].RuntimeID {
		t.Fatalf("the container was replaced (%s, was %s), not adopted", got.Containers[0].RuntimeID, tk.Containers[0].RuntimeID)
	}
}
