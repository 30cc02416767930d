package bench

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/server"
)

// BenchmarkAPIWrites measures single-object write latency (RunTask with
// count 1: one task key written) under 100 concurrent clients, through
// HTTP, the API and etcd. It reports p50 and p99.
func BenchmarkAPIWrites(b *testing.B) {
	cp := testutil.StartServer(b)
	ctx := context.Background()
	if _, err := cp.Agent.Register(ctx, wire.RegisterRequest{Name: "big", Capacity: modelResources(1 << 20)}); err != nil {
		b.Fatal(err)
	}
	spec := []byte(`{"family":"w","containerDefinitions":[{"name":"a","image":"fake","memory":8}]}`)
	if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
		b.Fatal(err)
	}
	const clients, perClient = 100, 50
	var p50s, p99s []float64
	for range b.N {
		lat := make([]time.Duration, 0, clients*perClient)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Go(func() {
				local := make([]time.Duration, 0, perClient)
				for range perClient {
					t0 := time.Now()
					if _, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "w"}); err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		b.Logf("%d writes by %d clients in %v (%.0f/s): p50 %v p99 %v", len(lat), clients, elapsed.Round(time.Millisecond),
			float64(len(lat))/elapsed.Seconds(), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
		p50s = append(p50s, float64(p50.Microseconds())/1000)
		p99s = append(p99s, float64(p99.Microseconds())/1000)
	}
	b.ReportMetric(median(p50s), "p50-ms")
	b.ReportMetric(median(p99s), "p99-ms")
}

// BenchmarkAuditCost measures what the audit log costs the write path: the
// same RunTask load as BenchmarkAPIWrites against a server with the audit
// log and one without, interleaved round by round so machine load hits
// both alike. It reports each p50 and their ratio (on/off).
func BenchmarkAuditCost(b *testing.B) {
	ctx := context.Background()
	setup := func(opts ...func(*server.Config)) *testutil.ControlPlane {
		cp := testutil.StartServer(b, opts...)
		if _, err := cp.Agent.Register(ctx, wire.RegisterRequest{Name: "big", Capacity: modelResources(1 << 20)}); err != nil {
			b.Fatal(err)
		}
		spec := []byte(`{"family":"w","containerDefinitions":[{"name":"a","image":"fake","memory":8}]}`)
		if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
			b.Fatal(err)
		}
		return cp
	}
	on := setup()
	off := setup(func(o *server.Config) { o.AuditMaxEntries = -1 })
	const clients, perClient = 100, 20
	round := func(cp *testutil.ControlPlane) float64 {
		lat := make([]time.Duration, 0, clients*perClient)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for range perClient {
					t0 := time.Now()
					if _, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "w"}); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(lat[len(lat)/2].Microseconds()) / 1000
	}
	var onP50, offP50 []float64
	for range b.N {
		offP50 = append(offP50, round(off))
		onP50 = append(onP50, round(on))
		b.Logf("round: p50 audit off %.2f ms, on %.2f ms", offP50[len(offP50)-1], onP50[len(onP50)-1])
	}
	page, err := on.Admin.ListAudit(ctx, "", 1, "")
	if err != nil || len(page.Entries) == 0 || page.Entries[0].Path != "/v1/tasks" {
		b.Fatalf("the audited server recorded no RunTask: %+v %v", page, err)
	}
	b.ReportMetric(median(offP50), "p50-off-ms")
	b.ReportMetric(median(onP50), "p50-on-ms")
	b.ReportMetric(median(onP50)/median(offP50), "ratio")
}
