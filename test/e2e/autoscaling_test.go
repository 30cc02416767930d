package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
)

// dockerScalingCluster is orch server on every interface (containers reach
// it and the agent's task endpoints through the host gateway) and one
// orchlet on Docker sampling usage every second.
func dockerScalingCluster(t *testing.T, prefix string) *cluster {
	t.Helper()
	needDocker(t)
	c := newCluster(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", "0.0.0.0:"+port)
	node := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	c.startAgent(t, node, "--runtime", "docker", "--stats-interval", "1s")
	waitNodes(t, c, 1)
	return c
}

func serviceState(t *testing.T, c *cluster, name string) (*model.Service, int) {
	t.Helper()
	svc, tasks, err := c.admin.GetService(context.Background(), name)
	if err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	n := 0
	for _, tk := range tasks {
		if tk.LastStatus == model.StatusRunning && tk.DesiredStatus == model.StatusRunning {
			n++
		}
	}
	return svc, n
}

// withImageTag points a manifest's example images at $ORCH_IMAGE_TAG (the
// tag scripts/build-images.sh builds), so a branch can test its own images
// on a Docker host shared with other branches; unset, it is "latest".
func withImageTag(manifest string) string {
	tag := os.Getenv("ORCH_IMAGE_TAG")
	if tag == "" {
		return manifest
	}
	for _, img := range []string{"coffee", "tools"} {
		manifest = strings.ReplaceAll(manifest, "orch-example/"+img+":latest", "orch-example/"+img+":"+tag)
	}
	return manifest
}

var rushServed = regexp.MustCompile(`served (order \d+: [a-z ]+)`)

// TestDockerAutoscalingCoffeeRush runs the coffee shop's rush hour on real
// Docker: the rush baristas sit at 0 while no order waits, the first order
// wakes one, a burst of 100 scales them out (never above max 5), every
// order is served exactly once (scale-in interrupts no order: baristas
// hold scale-in protection while busy and finish an order on SIGTERM),
// and they scale back to 0 once the queue stays empty.
func TestDockerAutoscalingCoffeeRush(t *testing.T) {
	c := dockerScalingCluster(t, "e2e-rush")
	manifest, err := os.ReadFile("../../examples/manifests/coffee.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out, code := c.orch(t, withImageTag(string(manifest)), "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply coffee.yaml: exit %d\n%s", code, out)
	}
	if svc, n := serviceState(t, c, "rush-barista"); svc.Desired() != 0 || n != 0 {
		t.Fatalf("rush-barista with an empty queue: desired %d, %d running; want 0", svc.Desired(), n)
	}

	start := time.Now()
	c.mustOrch(t, "run", "rush-cashier")
	peak := 0
	testutil.WaitFor(t, 60*time.Second, "a rush barista RUNNING after the first orders", func() (bool, string) {
		_, n := serviceState(t, c, "rush-barista")
		return n >= 1, fmt.Sprintf("%d running", n)
	})
	t.Logf("cashier started to first barista RUNNING: %s (includes the cashier's own start)", time.Since(start).Round(time.Millisecond))
	testutil.WaitFor(t, 60*time.Second, "scale out under the burst", func() (bool, string) {
		svc, n := serviceState(t, c, "rush-barista")
		peak = max(peak, svc.Desired())
		if svc.Desired() > 5 {
			t.Fatalf("desired %d above maxCapacity 5", svc.Desired())
		}
		return n >= 2, fmt.Sprintf("desired %d, %d running", svc.Desired(), n)
	})
	servedOnce := func() (map[string]int, string) {
		out := map[string]int{}
		for _, tk := range getTasks(t, c) {
			if tk.Family != "rush-barista" {
				continue
			}
			logs, _ := c.orch(t, "", "logs", tk.TaskID)
			for _, m := range rushServed.FindAllStringSubmatch(logs, -1) {
				out[m[1]]++
			}
		}
		return out, fmt.Sprintf("%d distinct orders served", len(out))
	}
	testutil.WaitFor(t, 120*time.Second, "100 orders served and the baristas back at 0", func() (bool, string) {
		svc, n := serviceState(t, c, "rush-barista")
		peak = max(peak, svc.Desired())
		if svc.Desired() > 5 {
			t.Fatalf("desired %d above maxCapacity 5", svc.Desired())
		}
		if svc.Desired() != 0 || n != 0 {
			return false, fmt.Sprintf("desired %d, %d running", svc.Desired(), n)
		}
		served, why := servedOnce()
		return len(served) == 100, why
	})
	served, _ := servedOnce()
	for order, n := range served {
		if n != 1 {
			t.Errorf("%s served %d times, want exactly once", order, n)
		}
	}
	t.Logf("peak desired count %d", peak)
	out := c.mustOrch(t, "describe", "service", "rush-barista")
	for _, want := range []string{"Auto scaling:", "0 to 5 tasks", "Scaling activities:", "woke from zero", "Setting desired count to 0."} {
		if !strings.Contains(out, want) {
			t.Errorf("orch describe service lacks %q:\n%s", want, out)
		}
	}
	if out := c.mustOrch(t, "get", "services"); !strings.Contains(out, "LAST SCALING") {
		t.Errorf("orch get services lacks the scaling columns:\n%s", out)
	}
	if out := c.mustOrch(t, "get", "scalabletargets"); !strings.Contains(out, "rush-barista") || !strings.Contains(out, "Setting desired count to 0.") {
		t.Errorf("orch get scalabletargets:\n%s", out)
	}
	if out := c.mustOrch(t, "get", "scalingpolicies", "rush-barista"); !strings.Contains(out, "rush-barista-backlog") || !strings.Contains(out, "BacklogPerTask(rush-orders)") {
		t.Errorf("orch get scalingpolicies:\n%s", out)
	}
	c.mustOrch(t, "delete", "scalingpolicy", "rush-barista/rush-barista-backlog")
	if out := c.mustOrch(t, "get", "scalingpolicies", "rush-barista"); strings.Contains(out, "rush-barista-backlog") {
		t.Errorf("the deleted policy is still listed:\n%s", out)
	}
}

// TestDockerAutoscalingCPU tracks CPU on real Docker: a task that burns a
// core against a 0.25 vCPU reservation runs at about 400% of it, so a 50%
// target asks for 8 tasks; MaxCapacity 2 caps it. A bad policy in a
// manifest is rejected with its field path.
func TestDockerAutoscalingCPU(t *testing.T) {
	c := dockerScalingCluster(t, "e2e-cpu")
	bad := `kind: TaskDefinition
family: burner
cpu: "256"
containerDefinitions:
  - name: burn
    image: orch-example/tools:latest
    command: ["burn", "90s"]
    memory: 32
    stopTimeout: 2
---
kind: Service
serviceName: burner
taskDefinition: burner
autoScaling: {minCapacity: 1, maxCapacity: 2, cpuPercent: -5}
`
	bad = withImageTag(bad)
	if out, code := c.orch(t, bad, "apply", "-f", "-"); code == 0 || !strings.Contains(out, "autoScaling.cpuPercent") {
		t.Fatalf("a negative CPU target: exit %d\n%s\nwant a failure naming autoScaling.cpuPercent", code, out)
	}
	if out, code := c.orch(t, strings.Replace(bad, "cpuPercent: -5", "cpuPercent: 50", 1), "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply the burner: exit %d\n%s", code, out)
	}
	t.Cleanup(func() { c.orch(t, "", "delete", "service", "burner") })
	testutil.WaitFor(t, 60*time.Second, "CPU target tracking scales out to max 2", func() (bool, string) {
		svc, n := serviceState(t, c, "burner")
		if svc.Desired() > 2 {
			t.Fatalf("desired %d above maxCapacity 2", svc.Desired())
		}
		last := ""
		if svc.Scaling != nil && len(svc.Scaling.Activities) > 0 {
			last = svc.Scaling.Activities[len(svc.Scaling.Activities)-1].Cause
		}
		return svc.Desired() == 2 && n == 2 && strings.Contains(last, "CPU"), fmt.Sprintf("desired %d, %d running, last activity %q", svc.Desired(), n, last)
	})
}

// TestDockerScaleInProtection: three baristas each making a long order
// hold scale-in protection ($ECS_AGENT_URI); the backlog of 3 asks for one
// task, so the service scales in to 1, but no protected barista is
// stopped: every order is served exactly once and the baristas go only
// once they are idle again.
func TestDockerScaleInProtection(t *testing.T) {
	c := dockerScalingCluster(t, "e2e-guard")
	manifest := withImageTag(`kind: Queue
QueueName: guard-orders
Attributes: {VisibilityTimeout: "60"}
---
kind: Role
roleName: guard
policyDocument:
  Statement: [{Effect: Allow, Action: "sqs:*", Resource: "arn:aws:sqs:*:*:guard-orders"}]
---
kind: TaskDefinition
family: guard
taskRoleArn: arn:aws:iam::000000000000:role/guard
containerDefinitions:
  - name: barista
    image: orch-example/coffee:latest
    command: ["barista", "-brew", "8s", "-protect"]
    memory: 32
    stopTimeout: 10
    environment: [{name: QUEUE, value: guard-orders}]
`)
	if out, code := c.orch(t, manifest, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	for i := 1; i <= 3; i++ {
		c.mustOrch(t, "queue", "send", "guard-orders", fmt.Sprintf("order %d: mocha", i))
	}
	svc := `kind: Service
serviceName: guard
taskDefinition: guard
desiredCount: 3
autoScaling: {minCapacity: 0, maxCapacity: 3, queue: guard-orders, messagesPerTask: 5, scaleInCooldown: 5, scaleToZeroAfterSeconds: 60}
`
	if out, code := c.orch(t, svc, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply the service: exit %d\n%s", code, out)
	}
	held := false
	testutil.WaitFor(t, 90*time.Second, "a scale-in held back by protected, busy baristas", func() (bool, string) {
		s, tasks, err := c.admin.GetService(context.Background(), "guard")
		if err != nil {
			return false, err.Error()
		}
		protected, running := 0, 0
		for _, tk := range tasks {
			if tk.LastStatus == model.StatusRunning && tk.DesiredStatus == model.StatusRunning {
				running++
				if tk.ScaleInProtected(time.Now()) {
					protected++
				}
			}
			if tk.ProtectedUntil != nil && tk.DesiredStatus == model.StatusStopped && tk.ScaleInProtected(time.Now()) {
				t.Fatalf("task %s was stopped while protected (%s)", tk.TaskID, tk.StoppedReason)
			}
		}
		held = s.Desired() < running && protected > 0 && running > s.Desired()
		return held, fmt.Sprintf("desired %d, %d running, %d protected", s.Desired(), running, protected)
	})
	served := map[string]int{}
	testutil.WaitFor(t, 60*time.Second, "the 3 orders served", func() (bool, string) {
		served = map[string]int{}
		for _, tk := range getTasks(t, c) {
			if tk.Family != "guard" {
				continue
			}
			logs, _ := c.orch(t, "", "logs", tk.TaskID)
			for _, m := range rushServed.FindAllStringSubmatch(logs, -1) {
				served[m[1]]++
			}
		}
		return len(served) == 3, fmt.Sprintf("served %v", served)
	})
	for o, n := range served {
		if n != 1 {
			t.Errorf("%s served %d times, want once", o, n)
		}
	}
	testutil.WaitFor(t, 60*time.Second, "the idle baristas scaled in", func() (bool, string) {
		s, n := serviceState(t, c, "guard")
		return n <= s.Desired() && s.Desired() <= 1, fmt.Sprintf("desired %d, %d running", s.Desired(), n)
	})
}
