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
// HTTP, the API and etcd. It reports p50 and p99 for two servers side by
// side, one serving TLS (orch server's default) and one plain HTTP, run
// alternately in each round so the cost of TLS is measured on the same
// machine at the same time.
func BenchmarkAPIWrites(b *testing.B) {
	modes := []struct {
		name string
		cp   *testutil.ControlPlane
	}{
		{"tls", testutil.StartServer(b, testutil.WithTLS)},
		{"plain", testutil.StartServer(b)},
	}
	ctx := context.Background()
	spec := []byte(`{"family":"w","containerDefinitions":[{"name":"a","image":"fake","memory":8}]}`)
	for _, m := range modes {
		if _, err := m.cp.Agent.Register(ctx, wire.RegisterRequest{Name: "big", Capacity: modelResources(1 << 20)}); err != nil {
			b.Fatal(err)
		}
		if _, err := m.cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
			b.Fatal(err)
		}
	}
	p50s, p99s := map[string][]float64{}, map[string][]float64{}
	for range b.N {
		for _, m := range modes {
			p50, p99 := apiWriteRound(b, m.name, m.cp)
			p50s[m.name] = append(p50s[m.name], p50)
			p99s[m.name] = append(p99s[m.name], p99)
		}
	}
	for _, m := range modes {
		b.ReportMetric(median(p50s[m.name]), "p50-ms-"+m.name)
		b.ReportMetric(median(p99s[m.name]), "p99-ms-"+m.name)
	}
}

// apiWriteRound runs 100 clients × 50 writes and returns p50 and p99 in ms.
func apiWriteRound(b *testing.B, mode string, cp *testutil.ControlPlane) (float64, float64) {
	ctx := context.Background()
	const clients, perClient = 100, 50
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
	b.Logf("%-5s %d writes by %d clients in %v (%.0f/s): p50 %v p99 %v", mode, len(lat), clients, elapsed.Round(time.Millisecond),
		float64(len(lat))/elapsed.Seconds(), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
	return float64(p50.Microseconds()) / 1000, float64(p99.Microseconds()) / 1000
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
