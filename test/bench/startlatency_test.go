package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// BenchmarkTaskStartLatency compares two ways of starting a task with
// `docker run -d` of the same image on the same machine, interleaved, 25
// runs each, and reports p50 and p99 of each and their ratios to Docker's:
//
//   - api: RunTask through the Go client until lastStatus RUNNING reaches
//     the server's watch cache (the server side alone);
//   - cli: `orch run --wait` as a user types it, a new process each time,
//     until it exits because the task is RUNNING (what a user waits for,
//     comparable with `docker run -d`, also a new process each time).
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

	// waitStatus follows the cache until task id reaches status.
	waitStatus := func(id, status string) {
		deadline := time.After(60 * time.Second)
		for {
			select {
			case <-sub.C():
				for _, ch := range sub.Drain() {
					if ch.Key == id && ch.Obj != nil && ch.Obj.LastStatus == status {
						return
					}
				}
			case <-deadline:
				b.Fatalf("task %s not %s after 60s", id, status)
			}
		}
	}
	// stop stops a measured task and waits until it has STOPPED, so its
	// container's shutdown does not load the next measurement.
	stop := func(id string) {
		if _, err := cp.Admin.StopTask(ctx, id, "bench"); err != nil {
			b.Fatalf("stop %s: %v", id, err)
		}
		waitStatus(id, model.StatusStopped)
	}
	orchRun := func() time.Duration {
		t0 := time.Now()
		tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "startbench"})
		if err != nil {
			b.Fatal(err)
		}
		waitStatus(tasks[0].TaskID, model.StatusRunning)
		d := time.Since(t0)
		stop(tasks[0].TaskID)
		return d
	}
	orchBin := filepath.Join(binaries(b), "orch")
	cliEnv := append(os.Environ(), "ORCH_CONFIG="+filepath.Join(b.TempDir(), "none.yaml"))
	cliRun := func() time.Duration {
		t0 := time.Now()
		cmd := exec.Command(orchBin, "--server", cp.URL, "--token", cp.Bootstrap.AdminToken, "run", "startbench", "--wait")
		cmd.Env = cliEnv
		out, err := cmd.Output()
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("orch run --wait: %v\n%s", err, out)
		}
		// Its output is "task/ID created (startbench:1)".
		id, _, _ := strings.Cut(strings.TrimPrefix(string(out), "task/"), " ")
		stop(id)
		return d
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
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	for range b.N {
		var o, c, d []time.Duration
		orchRun() // warm every path once
		cliRun()
		dockerRun()
		for range runs {
			o = append(o, orchRun())
			c = append(c, cliRun())
			d = append(d, dockerRun())
		}
		dp50, dp99 := pct(d, 50), pct(d, 99)
		b.Logf("docker run -d: p50 %v p99 %v min %v max %v (%d runs)", ms(dp50), ms(dp99), ms(pct(d, 0)), ms(pct(d, 100)), runs)
		for _, m := range []struct {
			name, what string
			v          []time.Duration
		}{{"orch", "RunTask -> RUNNING (API)", o}, {"cli", "orch run --wait (CLI)", c}} {
			p50, p99 := pct(m.v, 50), pct(m.v, 99)
			b.Logf("%s: p50 %v p99 %v min %v max %v | ratio to docker run -d: p50 %.2f p99 %.2f",
				m.what, ms(p50), ms(p99), ms(pct(m.v, 0)), ms(pct(m.v, 100)), float64(p50)/float64(dp50), float64(p99)/float64(dp99))
			b.ReportMetric(float64(p50.Milliseconds()), m.name+"-p50-ms")
			b.ReportMetric(float64(p99.Milliseconds()), m.name+"-p99-ms")
			b.ReportMetric(float64(p50)/float64(dp50), m.name+"-ratio-p50")
			b.ReportMetric(float64(p99)/float64(dp99), m.name+"-ratio-p99")
		}
		b.ReportMetric(float64(dp50.Milliseconds()), "docker-p50-ms")
		b.ReportMetric(float64(dp99.Milliseconds()), "docker-p99-ms")
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
