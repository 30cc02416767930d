package bench

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// BenchmarkECSRunTaskVsV1 measures RunTask (count 1) through the ECS API
// (aws-sdk-go-v2, SigV4-signed JSON 1.1) against POST /v1/tasks (Orch's
// Go client, bearer token) on one server, under 100 concurrent clients.
// The doors are interleaved: every client alternates /v1 and ECS calls,
// so both see the same load, etcd and machine at the same moments. It
// reports each door's p50 and p99 and the ECS/v1 ratios (the target: at
// most 1.10).
func BenchmarkECSRunTaskVsV1(b *testing.B) {
	cp := testutil.StartServer(b)
	ctx := context.Background()
	if _, err := cp.Agent.Register(ctx, wire.RegisterRequest{Name: "big", Capacity: modelResources(1 << 20)}); err != nil {
		b.Fatal(err)
	}
	spec := []byte(`{"family":"w","containerDefinitions":[{"name":"a","image":"fake","memory":8}]}`)
	if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: spec}}); err != nil {
		b.Fatal(err)
	}
	// The SDK keeps as many idle connections as Orch's client (64 per
	// host), so neither door pays for new connections the other reuses.
	httpc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = 64 })
	ecs := awsecs.New(awsecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), HTTPClient: httpc,
		Credentials: credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, ""),
	})
	const clients, perClient = 100, 25 // per door
	var v1p50, v1p99, ep50, ep99, r50, r99 []float64
	for round := range b.N {
		var v1Lat, ecsLat []time.Duration
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for c := range clients {
			wg.Go(func() {
				v1, e := make([]time.Duration, 0, perClient), make([]time.Duration, 0, perClient)
				for i := range 2 * perClient {
					t0 := time.Now()
					// Half the clients start with each door, alternating rounds too.
					if (i+c+round)%2 == 0 {
						if _, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "w"}); err != nil {
							b.Error(err)
							return
						}
						v1 = append(v1, time.Since(t0))
					} else {
						if _, err := ecs.RunTask(ctx, &awsecs.RunTaskInput{TaskDefinition: aws.String("w")}); err != nil {
							b.Error(err)
							return
						}
						e = append(e, time.Since(t0))
					}
				}
				mu.Lock()
				v1Lat, ecsLat = append(v1Lat, v1...), append(ecsLat, e...)
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		q := func(lat []time.Duration) (p50, p99 time.Duration) {
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			return lat[len(lat)/2], lat[len(lat)*99/100]
		}
		a50, a99 := q(v1Lat)
		e50, e99 := q(ecsLat)
		b.Logf("round %d: %d /v1 + %d ECS RunTasks by %d clients in %v: /v1 p50 %v p99 %v; ECS p50 %v p99 %v",
			round, len(v1Lat), len(ecsLat), clients, elapsed.Round(time.Millisecond),
			a50.Round(10*time.Microsecond), a99.Round(10*time.Microsecond), e50.Round(10*time.Microsecond), e99.Round(10*time.Microsecond))
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		v1p50, v1p99, ep50, ep99 = append(v1p50, ms(a50)), append(v1p99, ms(a99)), append(ep50, ms(e50)), append(ep99, ms(e99))
		r50, r99 = append(r50, ms(e50)/ms(a50)), append(r99, ms(e99)/ms(a99))
	}
	b.Logf("per-round ECS/v1 ratios: p50 %s; p99 %s", ratios(r50), ratios(r99))
	b.ReportMetric(median(v1p50), "v1-p50-ms")
	b.ReportMetric(median(v1p99), "v1-p99-ms")
	b.ReportMetric(median(ep50), "ecs-p50-ms")
	b.ReportMetric(median(ep99), "ecs-p99-ms")
	b.ReportMetric(median(ep50)/median(v1p50), "ecs/v1-p50")
	b.ReportMetric(median(ep99)/median(v1p99), "ecs/v1-p99")
}

// ratios formats per-round ratios as "median [min-max]".
func ratios(r []float64) string {
	s := append([]float64(nil), r...)
	sort.Float64s(s)
	return fmt.Sprintf("%.3f [%.3f-%.3f]", median(s), s[0], s[len(s)-1])
}
