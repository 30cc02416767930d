package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/test/internal/hosts"
)

const lossManifest = `kind: TaskDefinition
family: lossweb
containerDefinitions:
  - name: web
    image: orch-example/web:latest
    imagePullPolicy: never
    memory: 32
    stopTimeout: 2
    environment: [{name: PORT, value: "8080"}]
---
kind: Service
serviceName: lossweb
taskDefinition: lossweb
desiredCount: 3
deploymentConfiguration: {minimumHealthyPercent: 100, maximumPercent: 200}
`

// liveOn maps host name to the service's live (not stopped) task ids.
func liveOn(t *testing.T, c *cluster, svc string) (map[string][]string, []*model.Task) {
	t.Helper()
	_, tasks, err := c.admin.GetService(context.Background(), svc)
	if err != nil {
		t.Fatalf("get service %s: %v", svc, err)
	}
	on := map[string][]string{}
	var live []*model.Task
	for _, tk := range tasks {
		if !tk.IsStopped() {
			live = append(live, tk)
			on[tk.NodeName] = append(on[tk.NodeName], tk.TaskID)
		}
	}
	return on, live
}

// TestFleetNodeLoss runs a service over three hosts of the multi-host
// harness (each its own network namespace and dockerd), then at once kills
// one host's orchlet with SIGKILL and cuts another host's network. With the
// default liveness settings the service is back to 3 RUNNING tasks, all on
// the healthy host, within 15 s; the lost hosts' containers keep running
// while they are away; when the cut host's network comes back and the
// killed orchlet restarts, each stops its stale copies, so exactly 3
// containers run in the fleet.
func TestFleetNodeLoss(t *testing.T) {
	f, c := startFleet(t, 3)
	c.mustOrch(t, "apply", "-f", writeFile(t, t.TempDir(), "loss.yaml", lossManifest))
	testutil.WaitFor(t, 90*time.Second, "3 tasks RUNNING", func() (bool, string) {
		_, live := liveOn(t, c, "lossweb")
		n := 0
		for _, tk := range live {
			if tk.LastStatus == model.StatusRunning {
				n++
			}
		}
		return n == 3 && len(live) == 3, fmt.Sprintf("%d running of %d live", n, len(live))
	})
	on, _ := liveOn(t, c, "lossweb")
	// Kill the busiest host's agent and cut another host with tasks; the
	// third host takes the replacements.
	byLoad := append([]*hosts.Host(nil), f.Hosts...)
	sort.SliceStable(byLoad, func(i, j int) bool { return len(on[byLoad[i].Name]) > len(on[byLoad[j].Name]) })
	killed, cutOff, healthy := byLoad[0], byLoad[1], byLoad[2]
	t.Logf("tasks per host: %s %d, %s %d, %s %d", killed.Name, len(on[killed.Name]), cutOff.Name, len(on[cutOff.Name]), healthy.Name, len(on[healthy.Name]))

	t0 := time.Now()
	killed.KillAgent(t)
	cutOff.Cut(t)
	testutil.WaitFor(t, 15*time.Second, "3 RUNNING tasks on the healthy host", func() (bool, string) {
		_, live := liveOn(t, c, "lossweb")
		n := 0
		for _, tk := range live {
			if tk.LastStatus == model.StatusRunning && tk.NodeName == healthy.Name {
				n++
			}
		}
		var s []string
		for _, tk := range live {
			s = append(s, tk.NodeName+"/"+tk.LastStatus)
		}
		return n == 3, strings.Join(s, ", ")
	})
	t.Logf("replacements RUNNING %s after the kill and the cut", time.Since(t0).Round(time.Millisecond))
	// Only their control-plane link is gone: the lost hosts' containers run on.
	if r := killed.RunningTasks(t); len(r) != len(on[killed.Name]) {
		t.Fatalf("%s runs %v after its orchlet died, want its %d containers still running", killed.Name, r, len(on[killed.Name]))
	}
	if r := cutOff.RunningTasks(t); len(r) != len(on[cutOff.Name]) {
		t.Fatalf("%s runs %v while cut off, want its %d containers still running", cutOff.Name, r, len(on[cutOff.Name]))
	}

	cutOff.Heal(t)
	startHostAgent(t, killed, c)
	for _, h := range []*hosts.Host{cutOff, killed} {
		testutil.WaitFor(t, 30*time.Second, h.Name+" stops its stale copies", func() (bool, string) {
			r := h.RunningTasks(t)
			return len(r) == 0, fmt.Sprintf("still running %v", r)
		})
	}
	waitNodes(t, c, 3)
	_, live := liveOn(t, c, "lossweb")
	total := 0
	for _, h := range f.Hosts {
		total += len(h.RunningTasks(t))
	}
	if len(live) != 3 || total != 3 {
		t.Fatalf("after healing: %d live tasks and %d running containers in the fleet, want 3 and 3", len(live), total)
	}
}
