package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The topic modes publish to a fresh topic with --subscribers durable
// queue subscriptions (raw delivery, so bodies keep their id):
//
//	topic          publishes/s as fast as --producers can publish for
//	               --duration (--batch 10: PublishBatch), then waits until
//	               every queue holds every acknowledged publish
//	topic-latency  publishes at --rate; one consumer per queue; for each
//	               message, the time from Publish returning to it having
//	               been received from all the queues

func newSNSClient(c config) *sns.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     caBundle(),
	}
	return sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(c.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(c.ak, c.sk, ""), HTTPClient: &http.Client{Transport: tr}})
}

// topicSetup creates the topic and its queue subscriptions.
func topicSetup(ctx context.Context, sn *sns.Client, sq *sqs.Client, subs int) (string, []string, func()) {
	name := "loadgen-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ct, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: &name})
	if err != nil {
		fail("create topic: %v", err)
	}
	var urls []string
	for i := range subs {
		qn := fmt.Sprintf("%s-q%d", name, i)
		q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &qn})
		if err != nil {
			fail("create queue: %v", err)
		}
		urls = append(urls, *q.QueueUrl)
		if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("sqs"),
			Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:" + qn), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
			fail("subscribe: %v", err)
		}
	}
	stopDead := func() {}
	if deadHTTP {
		stopDead = subscribeDeadHTTP(ctx, sn, *ct.TopicArn)
	}
	return *ct.TopicArn, urls, func() {
		stopDead()
		_, _ = sn.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: ct.TopicArn})
		for _, u := range urls {
			_, _ = sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
	}
}

func topicThroughput(ctx context.Context, c config, subs int) map[string]any {
	sn, sq := newSNSClient(c), newClient(c)
	arn, urls, cleanup := topicSetup(ctx, sn, sq, subs)
	defer cleanup()
	var next atomic.Uint64
	var acked, errs atomic.Int64
	start := time.Now()
	stop := start.Add(c.duration)
	var wg sync.WaitGroup
	for range c.producers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if c.batch == 1 {
					if _, err := sn.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: aws.String(body(next.Add(1), c.size))}); err != nil {
						errs.Add(1)
						continue
					}
					acked.Add(1)
					continue
				}
				es := make([]snstypes.PublishBatchRequestEntry, c.batch)
				for i := range es {
					es[i] = snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(body(next.Add(1), c.size))}
				}
				r, err := sn.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &arn, PublishBatchRequestEntries: es})
				if err != nil {
					errs.Add(1)
					continue
				}
				acked.Add(int64(len(r.Successful)))
				errs.Add(int64(len(r.Failed)))
			}
		})
	}
	wg.Wait()
	sendSecs := time.Since(start).Seconds()
	// Every queue must come to hold every acknowledged publish.
	deadline := time.Now().Add(2 * time.Minute)
	complete := false
	for !complete && time.Now().Before(deadline) {
		complete = true
		for _, u := range urls {
			a, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
			if err != nil {
				fail("queue attributes: %v", err)
			}
			if n, _ := strconv.ParseInt(a.Attributes["ApproximateNumberOfMessages"], 10, 64); n < acked.Load() {
				complete = false
				break
			}
		}
		if !complete {
			time.Sleep(20 * time.Millisecond)
		}
	}
	allSecs := time.Since(start).Seconds()
	pubRate := float64(acked.Load()) / sendSecs
	delRate := float64(acked.Load()*int64(subs)) / allSecs
	fmt.Printf("topic batch=%d producers=%d subscribers=%d size=%d: %d publishes acknowledged (%d errors) in %.2fs: %.0f publishes/s; all %d deliveries in queues after %.2fs: %.0f deliveries/s; complete=%v\n",
		c.batch, c.producers, subs, c.size, acked.Load(), errs.Load(), sendSecs, pubRate, acked.Load()*int64(subs), allSecs, delRate, complete)
	return map[string]any{"ok": complete, "mode": "topic", "publishesPerSec": pubRate, "deliveriesPerSec": delRate, "acked": acked.Load()}
}

func topicLatency(ctx context.Context, c config, subs int) map[string]any {
	sn, sq := newSNSClient(c), newClient(c)
	arn, urls, cleanup := topicSetup(ctx, sn, sq, subs)
	defer cleanup()
	var mu sync.Mutex
	returned := map[uint64]time.Time{}
	lastRecv := map[uint64]time.Time{}
	count := map[uint64]int{}
	stopRecv := make(chan struct{})
	var cwg sync.WaitGroup
	for _, u := range urls {
		cwg.Go(func() {
			for {
				select {
				case <-stopRecv:
					return
				default:
				}
				r, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil || len(r.Messages) == 0 {
					continue
				}
				now := time.Now()
				var del []types.DeleteMessageBatchRequestEntry
				mu.Lock()
				for i, m := range r.Messages {
					if id, _, ok := parseBody(*m.Body); ok {
						count[id]++
						lastRecv[id] = now
					}
					del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				mu.Unlock()
				// Delete on the side, so the next long poll starts at once.
				cwg.Go(func() {
					_, _ = sq.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: del})
				})
			}
		})
	}
	rate := max(c.rate, 1)
	var next atomic.Uint64
	var errs atomic.Int64
	interval := time.Duration(float64(time.Second) * float64(c.producers) / float64(rate))
	start := time.Now()
	var pwg sync.WaitGroup
	for p := range c.producers {
		pwg.Go(func() {
			t0 := start.Add(time.Duration(p) * interval / time.Duration(c.producers))
			for i := 0; ; i++ {
				at := t0.Add(time.Duration(i) * interval)
				if at.Sub(start) >= c.duration {
					return
				}
				time.Sleep(time.Until(at))
				id := next.Add(1)
				if _, err := sn.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: aws.String(body(id, c.size))}); err != nil {
					errs.Add(1)
					continue
				}
				now := time.Now()
				mu.Lock()
				returned[id] = now
				mu.Unlock()
			}
		})
	}
	pwg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := 0
		for id := range returned {
			if count[id] >= subs {
				done++
			}
		}
		all := done == len(returned)
		mu.Unlock()
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stopRecv)
	cwg.Wait()
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	incomplete := 0
	for id, r := range returned {
		if count[id] < subs {
			incomplete++
			continue
		}
		lat = append(lat, max(0, lastRecv[id].Sub(r)))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	fmt.Printf("topic-latency rate=%d subscribers=%d size=%d: %d publishes, %d errors, %d not in every queue; Publish returned -> received from all %d queues, ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
		rate, subs, c.size, len(returned), errs.Load(), incomplete, subs, pct(0.5), pct(0.9), pct(0.99), pct(1))
	return map[string]any{"ok": incomplete == 0 && errs.Load() == 0, "mode": "topic-latency", "p50ms": pct(0.5), "p99ms": pct(0.99), "maxms": pct(1)}
}
