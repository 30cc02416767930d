package ui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// needDocker fails in CI and skips elsewhere when Docker or the example
// image is missing.
func needDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker is required in CI: %v", err)
		}
		t.Skipf("Docker is not reachable (%v); start dockerd to run this test", err)
	}
	if err := exec.Command("docker", "image", "inspect", "orch-example/tools:latest").Run(); err != nil {
		t.Fatal("image orch-example/tools:latest is missing: run `make images` first")
	}
}

// TestDashboardDockerTaskLogs: a task on a real Docker agent; its page
// streams the container's output as it is printed and shows the exit code
// when it exits, without a reload.
func TestDashboardDockerTaskLogs(t *testing.T) {
	chrome := needChromium(t)
	needDocker(t)
	cp := testutil.StartServer(t)
	node := fmt.Sprintf("ui-docker-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=orch.node="+node).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	rt, err := docker.New(docker.WithLogger(testutil.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(agent.Config{NodeName: node, Runtime: rt, Logger: testutil.Logger(),
		ControlPlane: client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = ag.StopAll(sctx)
		scancel()
		cancel()
		wg.Wait()
	})
	wg.Go(func() { ag.Run(ctx) })
	testutil.WaitFor(t, 20*time.Second, "docker node alive", func() (bool, string) {
		n, _, err := cp.Admin.GetNode(context.Background(), node)
		return err == nil && n.Alive, fmt.Sprint(err)
	})
	c := &cluster{cp}
	// The container prints line-1 and waits until the test, once the page
	// shows it, tells it to go on: the lines after that can only reach the
	// page by streaming, however slow the machine is.
	c.apply(t, `TaskDefinition {"family":"talker","containerDefinitions":[{"name":"talk","image":"orch-example/tools:latest","memory":32,
		"command":["echo","line-1","--","wait-file","/go-on","--","echo","line-2","--","sleep","1s","--","echo","line-3","--","exit","3"]}]}`)
	ts, err := cp.Admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "talker"})
	if err != nil {
		t.Fatal(err)
	}
	id := ts[0].TaskID
	testutil.WaitTask(t, cp.Admin, id, 30*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning })

	bctx := browser(t, chrome)
	run(t, bctx, "sign in and open the task",
		chromedp.Navigate(cp.URL+"/ui/tasks/"+id),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), cp.Bootstrap.AdminToken),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("logs")),
	)
	get(t, bctx, "mark page", chromedp.Evaluate[bool](`window.__noReload = true`))
	within(t, bctx, 30*time.Second, "first line", poll(`document.getElementById("logs").textContent.includes("line-1")`))
	if first := get(t, bctx, "logs", chromedp.TextContent(chromedp.ID("logs"))); strings.Contains(first, "line-2") {
		t.Fatalf("the page shows line-2 before the container was told to print it: %q", first)
	}
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=orch.node="+node).Output()
	ids := strings.Fields(string(out))
	if err != nil || len(ids) != 1 {
		t.Fatalf("the task's container on node %s: %q, %v", node, out, err)
	}
	if out, err := exec.Command("docker", "exec", ids[0], "/tools", "touch", "/go-on").CombinedOutput(); err != nil {
		t.Fatalf("docker exec touch: %v: %s", err, out)
	}
	within(t, bctx, 30*time.Second, "lines printed after the page opened", poll(`document.getElementById("logs").textContent.includes("line-3")`))
	within(t, bctx, 30*time.Second, "exit code shown live", poll(`(document.querySelector('td[data-col="exit"]')||{}).textContent === "3"`))
	if !get(t, bctx, "no reload", chromedp.Evaluate[bool](`window.__noReload === true`)) {
		t.Error("the page reloaded; want live updates")
	}
}
