package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
)

// webService is the example web app as a service. version changes the
// task definition (a new revision); image and hc can break it.
func webService(version, image, extraDeploy string, desired, minPct, maxPct int) string {
	return fmt.Sprintf(`kind: TaskDefinition
family: svcweb
containerDefinitions:
  - name: web
    image: %s
    imagePullPolicy: never
    memory: 32
    stopTimeout: 2
    environment:
      - {name: PORT, value: "8080"}
      - {name: VERSION, value: %q}
    portMappings: [{containerPort: 8080, hostPort: 0}]
    healthCheck:
      command: ["CMD", "/web", "-check", "http://127.0.0.1:8080/healthz"]
      interval: 5
      timeout: 2
      retries: 2
---
kind: Service
serviceName: svcweb
taskDefinition: svcweb
desiredCount: %d
deploymentConfiguration:
  minimumHealthyPercent: %d
  maximumPercent: %d
  deploymentCircuitBreaker: {enable: true, rollback: true}%s
`, image, version, desired, minPct, maxPct, extraDeploy)
}

// healthSampler polls a service's healthy count until stopped.
type healthSampler struct {
	min, samples atomic.Int64
	stop, done   chan struct{}
}

func sampleHealthy(c *client.Client, name string) *healthSampler {
	s := &healthSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s.min.Store(1 << 30)
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			svc, _, err := c.GetService(context.Background(), name)
			if err != nil {
				continue
			}
			s.samples.Add(1)
			if h := int64(svc.HealthyCount); h < s.min.Load() {
				s.min.Store(h)
			}
		}
	}()
	return s
}

func (s *healthSampler) finish() (minHealthy, samples int64) {
	close(s.stop)
	<-s.done
	return s.min.Load(), s.samples.Load()
}

func liveServiceTasks(tasks []*model.Task) []*model.Task {
	var out []*model.Task
	for _, t := range tasks {
		if !t.IsStopped() && t.DesiredStatus == model.StatusRunning {
			out = append(out, t)
		}
	}
	return out
}

// TestDockerService drives a service of the example web app on real
// Docker through the CLI: apply --wait, a killed container replaced,
// scale, rolling updates at 50/200 and 100/200 with the healthy count
// sampled throughout, a broken image rolled back by the circuit breaker
// (apply --wait fails with the reason), get/describe, and delete.
func TestDockerService(t *testing.T) {
	c, node := dockerCluster(t)
	ctx := context.Background()
	dir := t.TempDir()
	apply := func(name, manifest string) (string, int) {
		return c.orch(t, "", "apply", "-f", writeFile(t, dir, name, manifest), "--wait", "--timeout", "3m")
	}

	out, code := apply("v1.yaml", webService("v1", "orch-example/web:latest", "", 2, 100, 200))
	if code != 0 || !strings.Contains(out, "service/svcweb created") || !strings.Contains(out, "steady: 2/2 tasks healthy on svcweb:1") {
		t.Fatalf("apply --wait v1: exit %d\n%s", code, out)
	}
	if got := len(nodeContainers(t, node, true)); got != 2 {
		t.Fatalf("%d containers running, want 2", got)
	}

	// Kill a container: the task stops and is replaced.
	_, tasks, err := c.admin.GetService(ctx, "svcweb")
	if err != nil {
		t.Fatal(err)
	}
	victim := liveServiceTasks(tasks)[0]
	if out, err := exec.Command("docker", "kill", victim.Containers[0].RuntimeID).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v %s", err, out)
	}
	testutil.WaitFor(t, 90*time.Second, "killed task replaced", func() (bool, string) {
		svc, tasks, err := c.admin.GetService(ctx, "svcweb")
		if err != nil {
			return false, err.Error()
		}
		live := liveServiceTasks(tasks)
		for _, tk := range live {
			if tk.TaskID == victim.TaskID {
				return false, "victim still live"
			}
		}
		return len(live) == 2 && svc.HealthyCount == 2, fmt.Sprintf("%d live, %d healthy", len(live), svc.HealthyCount)
	})

	// Scale up with the CLI.
	if out := c.mustOrch(t, "scale", "svcweb", "3"); !strings.Contains(out, "service/svcweb scaled to 3") {
		t.Fatalf("scale printed %s", out)
	}
	testutil.WaitFor(t, 90*time.Second, "3 healthy", func() (bool, string) {
		svc, _, err := c.admin.GetService(ctx, "svcweb")
		return err == nil && svc.HealthyCount == 3 && svc.RunningCount == 3, fmt.Sprintf("%+v %v", svc, err)
	})

	// Rolling updates, sampled continuously.
	for i, b := range []struct{ min, max int }{{50, 200}, {100, 200}} {
		ref := fmt.Sprintf("svcweb:%d", i+2)
		s := sampleHealthy(c.admin, "svcweb")
		out, code := apply(fmt.Sprintf("v%d.yaml", i+2), webService(fmt.Sprintf("v%d", i+2), "orch-example/web:latest", "", 3, b.min, b.max))
		minSeen, n := s.finish()
		floor := int64((3*b.min + 99) / 100)
		t.Logf("rolling update %d/%d: %d samples, healthy never below %d (floor %d)", b.min, b.max, n, minSeen, floor)
		if code != 0 || !strings.Contains(out, "steady: 3/3 tasks healthy on "+ref) {
			t.Fatalf("apply --wait %s: exit %d\n%s", ref, code, out)
		}
		if minSeen < floor {
			t.Fatalf("%d/%d: healthy tasks dropped to %d, below %d", b.min, b.max, minSeen, floor)
		}
		if n < 10 {
			t.Fatalf("only %d samples", n)
		}
	}

	// A broken image: tasks fail to start, the circuit breaker rolls back
	// and apply --wait says so.
	s := sampleHealthy(c.admin, "svcweb")
	out, code = apply("broken.yaml", webService("v4", "orch-example/does-not-exist:latest", "", 3, 100, 200))
	minSeen, _ := s.finish()
	if code == 0 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "rolled back to svcweb:3") || !strings.Contains(out, "tasks failed to start") {
		t.Fatalf("apply --wait of a broken image: exit %d\n%s", code, out)
	}
	if minSeen < 3 {
		t.Fatalf("healthy tasks dropped to %d during the failed deployment, below 3", minSeen)
	}
	testutil.WaitFor(t, 90*time.Second, "back on svcweb:3", func() (bool, string) {
		svc, _, err := c.admin.GetService(ctx, "svcweb")
		if err != nil {
			return false, err.Error()
		}
		p := svc.Primary()
		return p.TaskDefinition == "svcweb:3" && p.RolloutState == model.RolloutCompleted && svc.HealthyCount == 3, fmt.Sprintf("%s %s healthy %d", p.TaskDefinition, p.RolloutState, svc.HealthyCount)
	})
	desc := c.mustOrch(t, "describe", "service", "svcweb")
	for _, want := range []string{"Deployments:", "svcweb:4", "FAILED", "rolling back: ", "has reached a steady state", "Tasks:"} {
		if !strings.Contains(desc, want) {
			t.Fatalf("describe service lacks %q:\n%s", want, desc)
		}
	}
	if out := c.mustOrch(t, "get", "services"); !strings.Contains(out, "svcweb") || !strings.Contains(out, "svcweb:3") {
		t.Fatalf("get services:\n%s", out)
	}

	// Delete: scale to 0, then gone; no container left running.
	if out := c.mustOrch(t, "delete", "service", "svcweb"); !strings.Contains(out, "service/svcweb deleted") {
		t.Fatalf("delete printed %s", out)
	}
	testutil.WaitFor(t, 60*time.Second, "containers stopped", func() (bool, string) {
		n := len(nodeContainers(t, node, true))
		return n == 0, fmt.Sprintf("%d containers running", n)
	})
}

// TestServiceLeaderKilledMidDeployment runs two orch servers on one
// external etcd and fake-runtime agents, starts a rolling deployment, kills
// the leader with SIGKILL while it is in progress, and checks that the
// survivor completes it with exactly desiredCount tasks and no duplicate
// launches.
func TestServiceLeaderKilledMidDeployment(t *testing.T) {
	etcd := startEtcd(t)
	c := newCluster(t)
	startServer(t, c, "--etcd-endpoints", etcd)
	startServer(t, c, "--etcd-endpoints", etcd)
	for i := range 2 {
		c.startAgent(t, fmt.Sprintf("ln%d", i), "--runtime", "fake", "--cpu", "4096", "--memory", "4096")
	}
	waitNodes(t, c, 2)
	ctx := context.Background()
	const desired = 6
	manifest := func(version, health string) string {
		return fmt.Sprintf(`kind: TaskDefinition
family: lk
containerDefinitions:
  - name: app
    image: fake
    memory: 32
    stopTimeout: 1
    environment:
      - {name: ORCH_FAKE, value: "health=%s"}
      - {name: VERSION, value: %q}
    healthCheck: {command: ["CMD", "true"], interval: 5}
---
kind: Service
serviceName: lk
taskDefinition: lk
desiredCount: %d
deploymentConfiguration: {minimumHealthyPercent: 100, maximumPercent: 150}
`, health, version, desired)
	}
	dir := t.TempDir()
	if out, code := c.orch(t, "", "apply", "-f", writeFile(t, dir, "v1.yaml", manifest("v1", "healthy_after:100ms")), "--wait"); code != 0 {
		t.Fatalf("apply v1: %s", out)
	}
	// v2 tasks take 3 s to turn healthy, so the deployment is slow enough
	// to be caught in the middle.
	c.mustOrch(t, "apply", "-f", writeFile(t, dir, "v2.yaml", manifest("v2", "healthy_after:3s")))
	testutil.WaitFor(t, 30*time.Second, "deployment in progress with v2 tasks", func() (bool, string) {
		svc, tasks, err := c.admin.GetService(ctx, "lk")
		if err != nil {
			return false, err.Error()
		}
		v2 := 0
		for _, tk := range liveServiceTasks(tasks) {
			if tk.Revision == 2 {
				v2++
			}
		}
		p := svc.Primary()
		return p.TaskDefinition == "lk:2" && p.RolloutState == model.RolloutInProgress && v2 > 0, fmt.Sprintf("%s %s, %d v2 tasks", p.TaskDefinition, p.RolloutState, v2)
	})
	_, before, _ := c.admin.GetService(ctx, "lk")
	t.Logf("killing the leader with %d tasks of lk:2 created", countRev(before, 2))
	leader := 0
	if !isLeader(c.urls[0]) {
		leader = 1
	}
	c.procs[leader].kill(syscall.SIGKILL)
	survivor := c.clientFor([]string{c.urls[1-leader]}, c.cfg.Token)
	var svc *model.Service
	var tasks []*model.Task
	testutil.WaitFor(t, 90*time.Second, "deployment completed by the new leader", func() (bool, string) {
		var err error
		svc, tasks, err = survivor.GetService(ctx, "lk")
		if err != nil {
			return false, err.Error()
		}
		p := svc.Primary()
		return p.TaskDefinition == "lk:2" && p.RolloutState == model.RolloutCompleted && svc.HealthyCount == desired && svc.RunningCount == desired,
			fmt.Sprintf("%s %s running %d healthy %d", p.TaskDefinition, p.RolloutState, svc.RunningCount, svc.HealthyCount)
	})
	live := liveServiceTasks(tasks)
	v2total := 0
	for _, tk := range tasks {
		if tk.Revision == 2 {
			v2total++
		}
	}
	if len(live) != desired || v2total != desired {
		for _, tk := range tasks {
			t.Logf("task %s lk:%d created %s desired %s last %s stop %s %q node %s", tk.ShortID(), tk.Revision, tk.CreatedAt.Format("05.000"), tk.DesiredStatus, tk.LastStatus, tk.StopCode, tk.StoppedReason, tk.NodeName)
		}
		for _, e := range svc.Events {
			t.Logf("event %s %s", e.CreatedAt.Format("05.000"), e.Message)
		}
		t.Fatalf("after the leader change: %d live tasks, %d lk:2 tasks ever created; want exactly %d of each (no duplicates)", len(live), v2total, desired)
	}
	for _, tk := range live {
		if tk.Revision != 2 {
			t.Fatalf("task %s of lk:%d still live", tk.ShortID(), tk.Revision)
		}
	}
}

func countRev(tasks []*model.Task, rev int) int {
	n := 0
	for _, t := range tasks {
		if t.Revision == rev {
			n++
		}
	}
	return n
}
