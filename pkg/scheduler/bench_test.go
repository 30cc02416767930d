package scheduler

import (
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// The benchmark workload: a fleet of n nodes (16 vCPU, 64 GiB, three zones,
// one in ten running Windows), each already running two tasks of existing
// services, and 50,000 pending tasks of 100 services with 500 tasks each,
// using a realistic mix of strategies and constraints:
//
//	60% default (spread by instance), 10% binpack memory, 10% spread by zone
//	then instance, 10% random, 10% spread by zone then binpack memory;
//	every 5th service memberOf(attribute:os == linux), four
//	memberOf(attribute:os == windows) (one node in ten), every 7th
//	distinctInstance, every 10th a static host port.
const (
	benchTasks    = 50_000
	benchServices = 100
)

func benchFleet(n int) Snapshot {
	rng := rand.New(rand.NewSource(1))
	snap := Snapshot{Nodes: make([]NodeInfo, n)}
	for i := range snap.Nodes {
		os := "linux"
		if i%10 == 9 {
			os = "windows"
		}
		nd := NodeInfo{
			Name: fmt.Sprintf("node-%05d", i), Status: model.NodeActive, Alive: true,
			Capacity:      model.Resources{CPU: 16 * 1024, MemoryMiB: 64 * 1024},
			Attributes:    map[string]string{"zone": fmt.Sprintf("z%d", i%3), "os": os, "hostname": fmt.Sprintf("host-%d", i)},
			ReservedPorts: []string{"tcp/22"},
		}
		for range 2 {
			nd.Tasks = append(nd.Tasks, PlacedTask{
				TaskID:       fmt.Sprintf("old-%d-%d", i, len(nd.Tasks)),
				Group:        fmt.Sprintf("service:existing-%d", rng.Intn(n/10+1)),
				Requirements: model.Resources{CPU: 512, MemoryMiB: 1024},
			})
		}
		snap.Nodes[i] = nd
	}
	return snap
}

func benchPending() []Request {
	per := benchTasks / benchServices
	out := make([]Request, 0, benchTasks)
	for s := range benchServices {
		q := Request{
			Group:        fmt.Sprintf("service:svc-%d", s),
			Family:       fmt.Sprintf("svc-%d", s),
			Requirements: model.Resources{CPU: 64 << (s % 3), MemoryMiB: 128 << (s % 3)},
		}
		switch s % 10 {
		case 6:
			q.Strategy = []model.PlacementStrategy{{Type: "binpack", Field: "memory"}}
		case 7:
			q.Strategy = []model.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "instanceId"}}
		case 8:
			q.Strategy = []model.PlacementStrategy{{Type: "random"}}
		case 9:
			q.Strategy = []model.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}, {Type: "binpack", Field: "memory"}}
		}
		if s%5 == 0 {
			q.Constraints = append(q.Constraints, model.PlacementConstraint{Type: "memberOf", Expression: "attribute:os == linux"})
		}
		if s%20 == 11 && s%7 != 0 {
			q.Constraints = append(q.Constraints, model.PlacementConstraint{Type: "memberOf", Expression: "attribute:os == windows"})
		}
		if s%7 == 0 {
			q.Constraints = append(q.Constraints, model.PlacementConstraint{Type: "distinctInstance"})
		}
		if s%10 == 3 {
			q.StaticPorts = []string{fmt.Sprintf("tcp/%d", 10000+s)}
		}
		for i := range per {
			q.TaskID = fmt.Sprintf("svc-%d-%d", s, i)
			out = append(out, q)
		}
	}
	return out
}

// benchSchedule reports ns/placement: the whole Schedule call (including
// its per-pass setup) divided by the tasks it placed.
func benchSchedule(b *testing.B, nodes int) {
	snap, pending := benchFleet(nodes), benchPending()
	placed, seed := 0, int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNanos()
	for b.Loop() {
		seed++
		res := Schedule(snap, pending, seed)
		placed += len(res.Placements)
		if len(res.Unplaced) > 0 {
			b.Fatalf("%d tasks unplaced, e.g. %s", len(res.Unplaced), res.Unplaced[0].Message)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(placed), "ns/placement")
	// CPU time includes the garbage collector's work on the other core.
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(placed), "cpu-ns/placement")
}

func BenchmarkSchedule1kNodes(b *testing.B)  { benchSchedule(b, 1_000) }
func BenchmarkSchedule10kNodes(b *testing.B) { benchSchedule(b, 10_000) }

// The slow path, for the record: every service uses a chain only the
// generic placer serves ([binpack cpu, spread instanceId]), so each of the
// 100 shapes costs O(n) to set up.
func benchPlacerPath(b *testing.B, nodes int) {
	snap, pending := benchFleet(nodes), benchPending()
	for i := range pending {
		pending[i].Strategy = []model.PlacementStrategy{{Type: "binpack", Field: "cpu"}, {Type: "spread", Field: "instanceId"}}
	}
	placed := 0
	b.ResetTimer()
	for b.Loop() {
		placed += len(Schedule(snap, pending, 1).Placements)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(placed), "ns/placement")
}

func BenchmarkSchedulePlacerPath1kNodes(b *testing.B)  { benchPlacerPath(b, 1_000) }
func BenchmarkSchedulePlacerPath10kNodes(b *testing.B) { benchPlacerPath(b, 10_000) }

// A full cluster: 10,000 nodes with no room, 50,000 pending tasks of 1,000
// services. Every task must be explained.
func BenchmarkScheduleFullCluster10kNodes(b *testing.B) {
	snap := benchFleet(10_000)
	for i := range snap.Nodes {
		snap.Nodes[i].Capacity = model.Resources{CPU: 1024, MemoryMiB: 2048}
	}
	pending := benchPending()
	for i := range pending {
		pending[i].Group = fmt.Sprintf("service:svc-%d", i/50)
	}
	b.ResetTimer()
	for b.Loop() {
		if res := Schedule(snap, pending, 1); len(res.Unplaced) != len(pending) {
			b.Fatalf("%d unplaced, want all", len(res.Unplaced))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pending)), "ns/task")
}

// TestPrintScalingRatio is not a test but a helper: it runs both benchmarks
// in one process, alternating them several times, and prints the best
// ns/placement (wall and CPU) of each and their ratio, which is what the
// scaling target is about (at most ~1.5x from 1k to 10k nodes). The best of
// several rounds filters out other load on a shared machine.
//
//	ORCH_SCHED_RATIO=1 go test -run TestPrintScalingRatio -v ./pkg/scheduler
func TestPrintScalingRatio(t *testing.T) {
	if os.Getenv("ORCH_SCHED_RATIO") == "" {
		t.Skip("set ORCH_SCHED_RATIO=1 to measure and print the 1k → 10k nodes cost ratio")
	}
	rounds := 5
	best := map[int][2]float64{}
	for range rounds {
		for _, nodes := range []int{1_000, 10_000} {
			r := testing.Benchmark(func(b *testing.B) { benchSchedule(b, nodes) })
			wall, cpu := r.Extra["ns/placement"], r.Extra["cpu-ns/placement"]
			if old, ok := best[nodes]; !ok || wall < old[0] {
				best[nodes] = [2]float64{wall, best[nodes][1]}
			}
			if old := best[nodes]; old[1] == 0 || cpu < old[1] {
				best[nodes] = [2]float64{best[nodes][0], cpu}
			}
		}
	}
	s, l := best[1_000], best[10_000]
	t.Logf("best of %d rounds, %d tasks of %d services:", rounds, benchTasks, benchServices)
	t.Logf("  1k nodes:  %6.0f ns/placement wall, %6.0f ns/placement CPU", s[0], s[1])
	t.Logf("  10k nodes: %6.0f ns/placement wall, %6.0f ns/placement CPU", l[0], l[1])
	t.Logf("  ratio 10k/1k: %.2f wall, %.2f CPU (target <= 1.5)", l[0]/s[0], l[1]/s[1])
}
