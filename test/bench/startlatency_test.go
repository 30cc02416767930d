package bench

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// BenchmarkTaskStartLatency compares the time from RunTask to lastStatus
// RUNNING in etcd with `docker run -d` of the same image on the same
// machine, interleaved, 25 runs each, and reports p50 and p99 of both and
// their ratios.
func BenchmarkTaskStartLatency(b *testing.B) {
	const runs = 25
	const image = "orch-example/web:latest"
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		b.Fatalf("%s missing: run make images", image)
	}
	cp := testutil.StartServer(b)
	rt, err := docker.New()
	if err != nil {
		b.Fatal(err)
	}
	node := "bench-start"
	defer exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=orch.node="+node+") >/dev/null 2>&1; docker rm -f $(docker ps -aq --filter label=orch.bench=start) >/dev/null 2>&1").Run()
	ag, err := agent.New(agent.Config{NodeName: node, Runtime: rt, Logger: testutil.Logger(),
		ControlPlane: client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken}), StatsInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ag.Run(ctx)
	testutil.WaitFor(b, 30*time.Second, "agent registered", func() (bool, string) {
		_, _, err := cp.Admin.GetNode(ctx, node)
		return err == nil, fmt.Sprint(err)
	})
	spec := []byte(`{"family":"startbench","containerDefinitions":[{"name":"web","image":"` + image + `","memory":16}]}`)
	if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
		b.Fatal(err)
	}
	sub := cp.Caches.Tasks.Subscribe()
	defer sub.Close()

	orchRun := func() time.Duration {
		t0 := time.Now()
		tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "startbench"})
		if err != nil {
			b.Fatal(err)
		}
		id := tasks[0].TaskID
		deadline := time.After(60 * time.Second)
		for {
			select {
			case <-sub.C():
				for _, ch := range sub.Drain() {
					if ch.Key == id && ch.Obj != nil && ch.Obj.LastStatus == model.StatusRunning {
						d := time.Since(t0)
						cp.Admin.StopTask(ctx, id, "bench")
						return d
					}
				}
			case <-deadline:
				b.Fatalf("task %s not RUNNING after 60s", id)
			}
		}
	}
	dockerRun := func() time.Duration {
		t0 := time.Now()
		out, err := exec.Command("docker", "run", "-d", "--label", "orch.bench=start", "-m", "16m", image).CombinedOutput()
		if err != nil {
			b.Fatalf("docker run: %v %s", err, out)
		}
		d := time.Since(t0)
		exec.Command("docker", "rm", "-f", strings.TrimSpace(string(out))).Run()
		return d
	}
	for range b.N {
		var o, d []time.Duration
		orchRun() // warm both paths once
		dockerRun()
		for range runs {
			o = append(o, orchRun())
			d = append(d, dockerRun())
		}
		op50, op99 := pct(o, 50), pct(o, 99)
		dp50, dp99 := pct(d, 50), pct(d, 99)
		b.Logf("orch run -> RUNNING: p50 %v p99 %v | docker run -d: p50 %v p99 %v | ratio p50 %.2f p99 %.2f (%d runs each)",
			op50.Round(time.Millisecond), op99.Round(time.Millisecond), dp50.Round(time.Millisecond), dp99.Round(time.Millisecond),
			float64(op50)/float64(dp50), float64(op99)/float64(dp99), runs)
		b.ReportMetric(float64(op50.Milliseconds()), "orch-p50-ms")
		b.ReportMetric(float64(op99.Milliseconds()), "orch-p99-ms")
		b.ReportMetric(float64(dp50.Milliseconds()), "docker-p50-ms")
		b.ReportMetric(float64(dp99.Milliseconds()), "docker-p99-ms")
		b.ReportMetric(float64(op50)/float64(dp50), "ratio-p50")
		b.ReportMetric(float64(op99)/float64(dp99), "ratio-p99")
	}
}

// pct returns the p-th percentile (nearest rank).
func pct(v []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}
