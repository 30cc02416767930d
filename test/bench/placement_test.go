// Package bench holds Orch's end-to-end benchmarks: placements committed to
// etcd per second, and API write latency under concurrent clients. Run with
// `make bench-placement` and `make bench-api`; figures go to docs/benchmarks.md.
package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
	"github.com/orch-project/orch/pkg/store"
)

// seedCluster writes nodes and pending tasks straight into a store in dir,
// before any controller runs, so the measurement covers placing only.
func seedCluster(b *testing.B, dir string, nodes, tasks int) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir, Logger: testutil.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n := &model.Node{Name: fmt.Sprintf("node-%05d", i), Capacity: model.Resources{CPU: 4096, MemoryMiB: 16384},
				Attributes: map[string]string{"zone": fmt.Sprintf("z%d", i%3)}, RegisteredAt: time.Now()}
			if _, err := st.RegisterNode(ctx, n, time.Hour); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	now := time.Now().UTC()
	batch := make([]*model.Task, 0, 1000)
	for i := range tasks {
		id := controller.NewTaskID()
		batch = append(batch, &model.Task{
			TaskID: id, TaskArn: model.TaskArnFor(id), TaskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/bench:1",
			Family: "bench", Revision: 1, Group: "family:bench", DesiredStatus: model.StatusRunning, LastStatus: model.StatusPending,
			Requirements: model.Resources{CPU: 16, MemoryMiB: 32}, CreatedAt: now.Add(time.Duration(i)),
		})
		if len(batch) == cap(batch) || i == tasks-1 {
			if err := st.CreateTasks(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// placeAll starts a server on a seeded store and measures the time from
// the controller taking the lead until every task is placed in etcd.
func placeAll(b *testing.B, nodes, tasks int) time.Duration {
	dir := b.TempDir()
	seedCluster(b, dir, nodes, tasks)
	srv, err := server.Start(context.Background(), server.Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: testutil.Logger(), NodeTTL: time.Hour, PlainHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for !srv.Reconciler.IsLeader() {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	for {
		placed := 0
		for _, t := range srv.Caches.Tasks.List() {
			if t.NodeName != "" {
				placed++
			}
		}
		if placed == tasks {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tasks placed after 10 minutes", placed, tasks)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkPlacement measures placements committed per second with 1,000
// and 10,000 nodes and 50,000 pending tasks on the embedded etcd, and the
// ratio of the cost per placement between the two fleet sizes.
func BenchmarkPlacement(b *testing.B) {
	const tasks = 50000
	per := map[int][]float64{}
	for range b.N {
		for _, nodes := range []int{1000, 10000} {
			d := placeAll(b, nodes, tasks)
			per[nodes] = append(per[nodes], float64(tasks)/d.Seconds())
			b.Logf("%5d nodes, %d tasks: %v, %.0f placements/s", nodes, tasks, d.Round(time.Millisecond), float64(tasks)/d.Seconds())
		}
	}
	m1, m10 := median(per[1000]), median(per[10000])
	b.ReportMetric(m1, "placements/s@1k-nodes")
	b.ReportMetric(m10, "placements/s@10k-nodes")
	b.ReportMetric(m1/m10, "cost-ratio-10k/1k")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
