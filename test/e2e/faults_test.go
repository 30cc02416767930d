package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// TestDockerControlPlaneOutage kills orch server with SIGKILL while a task
// runs: the agent keeps the container running, reconnects with backoff when
// the server is back (same data dir), and the task stays controllable.
func TestDockerControlPlaneOutage(t *testing.T) {
	needDocker(t)
	c := newCluster(t)
	dataDir, addr := t.TempDir(), freeAddr(t)
	srv := startServer(t, c, "--data-dir", dataDir, "--listen", addr)
	node := fmt.Sprintf("e2e-out-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	c.startAgent(t, node, "--runtime", "docker")
	waitNodes(t, c, 1)
	applyJSON(t, c, `{"family":"e2eout","containerDefinitions":[{"name":"web","image":"orch-example/web:latest","memory":32}]}`)
	id := runOne(t, c, "e2eout")
	task := waitTask(t, c, id, 60*time.Second, running)
	cid := task.Containers[0].RuntimeID

	srv.kill(syscall.SIGKILL)
	srv.wait(t, 60*time.Second)
	// Give the agent time to notice; its container must stay up throughout.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if got := nodeContainers(t, node, true); len(got) != 1 || got[0] != cid {
			t.Fatalf("containers while the control plane is down: %v, want only %s", got, cid[:12])
		}
		time.Sleep(250 * time.Millisecond)
	}

	restarted := start(t, c.env, "orch", "server", "--data-dir", dataDir, "--listen", addr)
	waitHealthy(t, "https://"+addr, restarted)
	testutil.WaitFor(t, 30*time.Second, "agent reconnected", func() (bool, string) {
		n, _, err := c.admin.GetNode(context.Background(), node)
		if err != nil {
			return false, err.Error()
		}
		return n.Alive, "node not alive"
	})
	if got := waitTask(t, c, id, 60*time.Second, running); got.Containers[0].RuntimeID != cid {
		t.Fatalf("container changed across the outage: %s -> %s", cid[:12], got.Containers[0].RuntimeID[:12])
	}
	// New work flows again, event driven.
	tasks, err := c.admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "e2eout"})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, c, tasks[0].TaskID, 60*time.Second, running)
	c.mustOrch(t, "stop", id)
	if got := waitTask(t, c, id, 30*time.Second, stopped); got.StopCode != model.StopUserInitiated {
		t.Fatalf("stop after the outage: %s", got.StopCode)
	}
}
