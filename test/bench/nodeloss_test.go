package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// BenchmarkNodeLossReplacement measures the time from a node's network
// being cut to its service task RUNNING on another node, over 20 cuts, with
// the default liveness settings (6 s node ttl, 2 s heartbeats, 2 s grace):
// an in-process server on embedded etcd, real agents on the fake runtime,
// each behind a proxy the benchmark cuts. Each round starts a fresh node,
// cuts the node running the task, and waits for the task on the new one.
func BenchmarkNodeLossReplacement(b *testing.B) {
	const kills = 20
	for range b.N {
		cp := testutil.StartServer(b, func(o *server.Config) { o.NodeLostGrace = 0; o.NodeTTL = 0 })
		ctx, cancel := context.WithCancel(context.Background())
		u, _ := url.Parse(cp.URL)
		startNode := func(name string) *testutil.CutProxy {
			p := testutil.StartCutProxy(b, u.Host)
			rt := fake.New(fake.Config{CPU: 4096, MemoryMiB: 8192, Images: []string{"fake"}})
			ag, err := agent.New(agent.Config{NodeName: name, Runtime: rt, Logger: testutil.Logger(), StatsInterval: -1,
				ControlPlane: client.New(client.Config{Servers: []string{"http://" + p.Addr}, Token: cp.Bootstrap.JoinToken})})
			if err != nil {
				b.Fatal(err)
			}
			go ag.Run(ctx)
			return p
		}
		spec := func(kind, s string) wire.ApplyDocument {
			return wire.ApplyDocument{Kind: kind, Spec: json.RawMessage(s)}
		}
		victim := startNode("loss-00")
		if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{
			spec("TaskDefinition", `{"family":"w","containerDefinitions":[{"name":"a","image":"fake","memory":16,"stopTimeout":1}]}`),
			spec("Service", `{"serviceName":"w","taskDefinition":"w","desiredCount":1}`),
		}); err != nil {
			b.Fatal(err)
		}
		runningOn := func(node string) func() (bool, string) {
			return func() (bool, string) {
				_, tasks, err := cp.Admin.GetService(ctx, "w")
				if err != nil {
					return false, err.Error()
				}
				for _, tk := range tasks {
					if tk.NodeName == node && tk.LastStatus == model.StatusRunning && !tk.IsStopped() {
						return true, ""
					}
				}
				return false, fmt.Sprintf("%d tasks, none RUNNING on %s", len(tasks), node)
			}
		}
		testutil.WaitFor(b, 30*time.Second, "task on loss-00", runningOn("loss-00"))
		var took []time.Duration
		for i := 1; i <= kills; i++ {
			next := fmt.Sprintf("loss-%02d", i)
			p := startNode(next)
			testutil.WaitFor(b, 30*time.Second, next+" alive", func() (bool, string) {
				nv, _, err := cp.Admin.GetNode(ctx, next)
				return err == nil && nv.Alive, fmt.Sprint(err)
			})
			t0 := time.Now()
			victim.Cut()
			testutil.WaitFor(b, 60*time.Second, "replacement on "+next, runningOn(next))
			took = append(took, time.Since(t0))
			victim = p
		}
		slices.Sort(took)
		med := took[len(took)/2]
		if len(took)%2 == 0 {
			med = (took[len(took)/2-1] + took[len(took)/2]) / 2
		}
		b.Logf("time to replacement RUNNING over %d cuts: median %v [min %v, max %v]", kills,
			med.Round(time.Millisecond), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
		b.ReportMetric(med.Seconds(), "median-s")
		b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
		cancel()
	}
}
