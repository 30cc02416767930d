package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/server"
)

// BenchmarkAWSAuditCost measures what auditing the AWS protocols costs:
// p50 latency of CreateQueue (a write, recorded) and SendMessage (data
// plane, not recorded but passing the same wrapper) through the stock
// SDK, 8 callers, on two servers in this process, one with the audit log
// and one without, alternating in each round so both see the same load.
//
//	go test -run '^$' -bench BenchmarkAWSAuditCost -benchtime 5x ./test/bench/
func BenchmarkAWSAuditCost(b *testing.B) {
	ctx := context.Background()
	on := testutil.StartServer(b)
	off := testutil.StartServer(b, func(o *server.Config) { o.AuditMaxEntries = -1 })
	client := func(cp *testutil.ControlPlane) *sqs.Client {
		return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
			Credentials: credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")})
	}
	var seq atomic.Int64
	const callers, perCaller = 8, 25
	round := func(c *sqs.Client, op func(c *sqs.Client) error) float64 {
		lat := make([]time.Duration, 0, callers*perCaller)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for range perCaller {
					t0 := time.Now()
					if err := op(c); err != nil {
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
	create := func(c *sqs.Client) error {
		_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("b%d", seq.Add(1)))})
		return err
	}
	cOn, cOff := client(on), client(off)
	urls := map[*sqs.Client]*string{}
	for _, c := range []*sqs.Client{cOn, cOff} {
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("target")})
		if err != nil {
			b.Fatal(err)
		}
		urls[c] = out.QueueUrl
	}
	send := func(c *sqs.Client) error {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: urls[c], MessageBody: aws.String("bench")})
		return err
	}
	var createOn, createOff, sendOn, sendOff []float64
	for range b.N {
		createOff = append(createOff, round(cOff, create))
		createOn = append(createOn, round(cOn, create))
		sendOff = append(sendOff, round(cOff, send))
		sendOn = append(sendOn, round(cOn, send))
		b.Logf("round p50: CreateQueue audit off %.2f ms, on %.2f ms; SendMessage off %.2f ms, on %.2f ms",
			createOff[len(createOff)-1], createOn[len(createOn)-1], sendOff[len(sendOff)-1], sendOn[len(sendOn)-1])
	}
	page, err := on.Admin.ListAudit(ctx, "", 1, "")
	if err != nil || len(page.Entries) == 0 || page.Entries[0].Action != "sqs:CreateQueue" {
		b.Fatalf("the audited server recorded no CreateQueue: %+v %v", page, err)
	}
	b.ReportMetric(median(createOff), "create-p50-off-ms")
	b.ReportMetric(median(createOn), "create-p50-on-ms")
	b.ReportMetric(median(sendOff), "send-p50-off-ms")
	b.ReportMetric(median(sendOn), "send-p50-on-ms")
}
