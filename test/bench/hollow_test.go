package bench

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// BenchmarkHollowAgents runs 200 agents on the fake runtime (in this
// process) against an `orch server` process and starts 10,000 tasks:
// the time until all are RUNNING, and the server's CPU time and memory.
func BenchmarkHollowAgents(b *testing.B) {
	const agents, tasks = 200, 10000
	for range b.N {
		paddr, pargs := pprofArgs(b)
		srv := startServerProc(b, pargs...)
		ctx, cancel := context.WithCancel(context.Background())
		startHollowAgents(ctx, b, srv, "hollow", agents, 4096, 8192)
		spec := []byte(`{"family":"hollow","containerDefinitions":[{"name":"a","image":"fake","cpu":64,"memory":128}]}`)
		if _, err := srv.admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
			b.Fatal(err)
		}
		before := usageOf(b, srv.cmd.Process.Pid)
		prof := startPprof(b, paddr)
		start := time.Now()
		for range tasks / 1000 {
			if _, err := srv.admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "hollow", Count: 1000}); err != nil {
				b.Fatal(err)
			}
		}
		q := url.Values{"lastStatus": {model.StatusRunning}}
		var n int
		testutil.WaitFor(b, 10*time.Minute, "10,000 tasks RUNNING", func() (bool, string) {
			ts, err := srv.admin.ListTasks(ctx, q)
			n = len(ts)
			return err == nil && n == tasks, fmt.Sprintf("%d RUNNING (%v)", n, err)
		})
		took := time.Since(start)
		after := usageOf(b, srv.cmd.Process.Pid)
		prof()
		cpu := after.cpu - before.cpu
		b.Logf("%d hollow agents, %d tasks: all RUNNING in %v; server CPU %v (%.0f%% of one core), RSS %.0f MiB (peak %.0f MiB)",
			agents, tasks, took.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/took.Seconds(), after.rssMiB, after.peakMiB)
		b.ReportMetric(took.Seconds(), "s-to-all-running")
		b.ReportMetric(cpu.Seconds(), "server-cpu-s")
		b.ReportMetric(after.peakMiB, "server-peak-MiB")
		cancel()
	}
}

// BenchmarkAgentMemory measures orchlet's resident memory on real Docker:
// idle, and with 50 running tasks.
func BenchmarkAgentMemory(b *testing.B) {
	const image = "orch-example/web:latest"
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		b.Fatalf("%s missing: run make images", image)
	}
	for range b.N {
		srv := startServerProc(b)
		node := "bench-mem"
		cmd := startDockerAgentProc(b, srv, node)
		ctx := context.Background()
		time.Sleep(3 * time.Second) // settle: idle means after start-up
		idle := usageOf(b, cmd.Process.Pid)
		spec := []byte(`{"family":"membench","containerDefinitions":[{"name":"web","image":"` + image + `","memory":16}]}`)
		if _, err := srv.admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
			b.Fatal(err)
		}
		if _, err := srv.admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "membench", Count: 50}); err != nil {
			b.Fatal(err)
		}
		testutil.WaitFor(b, 5*time.Minute, "50 tasks RUNNING", func() (bool, string) {
			ts, err := srv.admin.ListTasks(ctx, url.Values{"lastStatus": {model.StatusRunning}})
			return err == nil && len(ts) == 50, fmt.Sprintf("%d running %v", len(ts), err)
		})
		time.Sleep(12 * time.Second) // one usage-sampling round (10 s) included
		busy := usageOf(b, cmd.Process.Pid)
		b.Logf("orchlet RSS idle %.1f MiB, with 50 running tasks %.1f MiB (peak %.1f MiB)", idle.rssMiB, busy.rssMiB, busy.peakMiB)
		b.ReportMetric(idle.rssMiB, "idle-MiB")
		b.ReportMetric(busy.rssMiB, "50-tasks-MiB")
		out, _ := exec.Command("sh", "-c", "docker ps -q --filter label=orch.node="+node+" | wc -l").Output()
		if strings.TrimSpace(string(out)) != "50" {
			b.Fatalf("%s containers running, want 50", strings.TrimSpace(string(out)))
		}
	}
}
