package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func applyDocs(b *testing.B, c *client.Client, docs ...string) {
	b.Helper()
	var req []wire.ApplyDocument
	for _, d := range docs {
		kind, spec, _ := strings.Cut(d, " ")
		req = append(req, wire.ApplyDocument{Kind: kind, Spec: json.RawMessage(spec)})
	}
	if _, err := c.Apply(context.Background(), req); err != nil {
		b.Fatal(err)
	}
}

// waitCompleted waits until the service's primary deployment is ref,
// COMPLETED, with desired healthy tasks, and returns when it saw that.
func waitCompleted(b *testing.B, c *client.Client, name, ref string, desired int, timeout time.Duration) {
	b.Helper()
	testutil.WaitFor(b, timeout, name+" steady on "+ref, func() (bool, string) {
		svc, _, err := c.GetService(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		p := svc.Primary()
		return p.TaskDefinition == ref && p.RolloutState == model.RolloutCompleted && svc.Steady && svc.HealthyCount == desired && svc.RunningCount == desired,
			fmt.Sprintf("%s %s running %d healthy %d", p.TaskDefinition, p.RolloutState, svc.RunningCount, svc.HealthyCount)
	})
}

// BenchmarkServiceRollingUpdate100 rolls a 100-task service to a new task
// definition revision (maximumPercent 200, minimumHealthyPercent 100) on 10
// hollow agents (fake runtime, in this process) against an `orch server`
// process: wall time from apply to the deployment COMPLETED, and the
// server's CPU time meanwhile (controller, API and embedded etcd).
func BenchmarkServiceRollingUpdate100(b *testing.B) {
	const agents, desired = 10, 100
	for i := range b.N {
		srv := startServerProc(b)
		ctx, cancel := context.WithCancel(context.Background())
		startHollowAgents(ctx, b, srv, "svc", agents, 8192, 16384)
		td := func(v string) string {
			return `TaskDefinition {"family":"roll","containerDefinitions":[{"name":"a","image":"fake","cpu":64,"memory":64,"stopTimeout":1,
				"environment":[{"name":"V","value":"` + v + `"}]}]}`
		}
		svc := fmt.Sprintf(`Service {"serviceName":"roll","taskDefinition":"roll","desiredCount":%d,"deploymentConfiguration":{"minimumHealthyPercent":100,"maximumPercent":200}}`, desired)
		applyDocs(b, srv.admin, td("1"), svc)
		waitCompleted(b, srv.admin, "roll", "roll:1", desired, 2*time.Minute)
		before := usageOf(b, srv.cmd.Process.Pid)
		start := time.Now()
		applyDocs(b, srv.admin, td("2"), svc)
		waitCompleted(b, srv.admin, "roll", "roll:2", desired, 5*time.Minute)
		took := time.Since(start)
		cpu := usageOf(b, srv.cmd.Process.Pid).cpu - before.cpu
		_, tasks, err := srv.admin.GetService(ctx, "roll")
		if err != nil {
			b.Fatal(err)
		}
		perRev := map[string]int{}
		for _, t := range tasks {
			perRev[fmt.Sprintf("rev%d-%s", t.Revision, t.LastStatus)]++
		}
		if perRev["rev2-RUNNING"] != desired || perRev["rev1-STOPPED"] != desired || len(tasks) != 2*desired {
			b.Fatalf("after the rollout: %v, want %d RUNNING of rev 2 and %d STOPPED of rev 1", perRev, desired, desired)
		}
		b.Logf("run %d: %d-task rolling update (100/200) on %d hollow agents: COMPLETED in %v; server CPU %v (%.0f%% of one core)",
			i, desired, agents, took.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/took.Seconds())
		b.ReportMetric(took.Seconds(), "s-rollout")
		b.ReportMetric(cpu.Seconds(), "server-cpu-s")
		cancel()
	}
}

// BenchmarkServiceRollingDocker5 rolls a 5-task service of the example web
// app on real Docker (one orchlet, maximumPercent 200) and compares Orch's
// time from apply to COMPLETED with the sum of Docker's own times to start
// (docker run -d) and stop (docker stop) the same containers, measured in
// the same run: the overhead Orch adds, as a ratio.
func BenchmarkServiceRollingDocker5(b *testing.B) {
	const desired = 5
	const image = "orch-example/web:latest"
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		b.Fatalf("%s missing: run make images", image)
	}
	for i := range b.N {
		srv := startServerProc(b)
		node := "bench-svc"
		defer exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=orch.bench=svc) >/dev/null 2>&1").Run()
		startDockerAgentProc(b, srv, node)
		td := func(v string) string {
			return `TaskDefinition {"family":"dweb","containerDefinitions":[{"name":"web","image":"` + image + `","memory":32,"stopTimeout":10,
				"portMappings":[{"containerPort":8080,"hostPort":0}],"environment":[{"name":"V","value":"` + v + `"}]}]}`
		}
		svc := fmt.Sprintf(`Service {"serviceName":"dweb","taskDefinition":"dweb","desiredCount":%d,"deploymentConfiguration":{"minimumHealthyPercent":100,"maximumPercent":200}}`, desired)
		applyDocs(b, srv.admin, td("1"), svc)
		waitCompleted(b, srv.admin, "dweb", "dweb:1", desired, 2*time.Minute)
		start := time.Now()
		applyDocs(b, srv.admin, td("2"), svc)
		waitCompleted(b, srv.admin, "dweb", "dweb:2", desired, 3*time.Minute)
		orch := time.Since(start)

		// Docker alone: start and stop 5 of the same containers, one after
		// another, and sum the times.
		var dockerStart, dockerStop time.Duration
		var ids []string
		for j := range desired {
			t0 := time.Now()
			out, err := exec.Command("docker", "run", "-d", "--label", "orch.bench=svc", "-m", "32m", "-p", "8080", "-e", fmt.Sprintf("V=%d", j), image).CombinedOutput()
			if err != nil {
				b.Fatalf("docker run: %v %s", err, out)
			}
			dockerStart += time.Since(t0)
			ids = append(ids, strings.TrimSpace(string(out)))
		}
		for _, id := range ids {
			t0 := time.Now()
			if out, err := exec.Command("docker", "stop", "-t", "10", id).CombinedOutput(); err != nil {
				b.Fatalf("docker stop: %v %s", err, out)
			}
			dockerStop += time.Since(t0)
			exec.Command("docker", "rm", "-f", id).Run()
		}
		base := dockerStart + dockerStop
		b.Logf("run %d: rolling %d web tasks on Docker: Orch apply -> COMPLETED %v | docker run -d x%d %v + docker stop x%d %v = %v | ratio %.2f",
			i, desired, orch.Round(time.Millisecond), desired, dockerStart.Round(time.Millisecond), desired, dockerStop.Round(time.Millisecond), base.Round(time.Millisecond), orch.Seconds()/base.Seconds())
		b.ReportMetric(orch.Seconds(), "orch-s")
		b.ReportMetric(base.Seconds(), "docker-sum-s")
		b.ReportMetric(orch.Seconds()/base.Seconds(), "ratio")
	}
}
