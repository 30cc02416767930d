package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
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
//	topic-latency  publishes at --rate; two long-polling receivers and a
//	               batching deleter per queue; for each message, the time
//	               from Publish returning to it having been received from
//	               all the queues
//	topic-isolation  --rounds pairs of topic-latency rounds, without and
//	               with a dead http subscriber, interleaved; medians
//	               [min–max] and the ratio of the p99s
//
// The publisher is always the stock SNS client. The latency modes'
// consumers are the stock SQS client, or with --client lean the lean one
// (lean.go): on a 2-core machine shared with the server, ten SDK consumers
// at 200 publishes/s spend about as much CPU as the server does, and the
// tail of a figure that waits for all ten is then largely theirs.

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

// topicSetup creates the topic and its queue subscriptions (and, withDead,
// the dead http subscriber of deadhttp.go).
func topicSetup(ctx context.Context, sn *sns.Client, sq *sqs.Client, subs int, withDead bool) (string, []string, func()) {
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
	if withDead {
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
	arn, urls, cleanup := topicSetup(ctx, sn, sq, subs, deadHTTP)
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

// latencyRound is one topic-latency run's figures, in milliseconds.
type latencyRound struct {
	n, errs, incomplete int
	p50, p90, p99, max  float64
	// Publish called -> received from all queues, and Publish's own
	// duration: a faster Publish shortens the first and can lengthen the
	// figure above (less of the delivery hides inside the call).
	e2e50, e2e99, pub50, pub99 float64
}

func topicLatency(ctx context.Context, c config, subs int) map[string]any {
	r := latencyRun(ctx, c, subs, deadHTTP)
	fmt.Printf("topic-latency rate=%d subscribers=%d size=%d dead-http=%v: %d publishes, %d errors, %d not in every queue; Publish returned -> received from all %d queues, ms: p50 %.2f p90 %.2f p99 %.2f max %.2f; Publish called -> received from all: p50 %.2f p99 %.2f; Publish itself: p50 %.2f p99 %.2f\n",
		max(c.rate, 1), subs, c.size, deadHTTP, r.n, r.errs, r.incomplete, subs, r.p50, r.p90, r.p99, r.max, r.e2e50, r.e2e99, r.pub50, r.pub99)
	return map[string]any{"ok": r.incomplete == 0 && r.errs == 0, "mode": "topic-latency", "p50ms": r.p50, "p99ms": r.p99, "maxms": r.max}
}

// topicIsolation runs --rounds pairs of topic-latency rounds, each pair a
// round on a fresh topic without and then one with a dead http
// subscriber, interleaved so that the machine's load drifts over both
// alike; it prints each round, the medians [min–max] of each kind's p50
// and p99, and the ratio of the median p99s (the isolation figure: at
// most 1.10).
func topicIsolation(ctx context.Context, c config, subs int) map[string]any {
	rounds := max(c.rounds, 1)
	var base, dead []latencyRound
	ok := true
	for i := range rounds {
		for _, d := range []bool{false, true} {
			r := latencyRun(ctx, c, subs, d)
			kind := "base"
			if d {
				kind, dead = "dead", append(dead, r)
			} else {
				base = append(base, r)
			}
			ok = ok && r.errs == 0 && r.incomplete == 0
			fmt.Printf("round %d %s: %d publishes, %d errors, %d not in every queue; ms: p50 %.2f p90 %.2f p99 %.2f max %.2f; Publish called -> received from all: p50 %.2f p99 %.2f; Publish itself: p50 %.2f p99 %.2f\n",
				i+1, kind, r.n, r.errs, r.incomplete, r.p50, r.p90, r.p99, r.max, r.e2e50, r.e2e99, r.pub50, r.pub99)
		}
	}
	field := func(rs []latencyRound, f func(latencyRound) float64) []float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		sort.Float64s(v)
		return v
	}
	med := func(v []float64) float64 { return v[len(v)/2] }
	p50 := func(r latencyRound) float64 { return r.p50 }
	p99 := func(r latencyRound) float64 { return r.p99 }
	show := func(v []float64) string { return fmt.Sprintf("%.2f [%.2f–%.2f]", med(v), v[0], v[len(v)-1]) }
	b50, b99, d50, d99 := field(base, p50), field(base, p99), field(dead, p50), field(dead, p99)
	e99 := func(r latencyRound) float64 { return r.e2e99 }
	be99, de99 := field(base, e99), field(dead, e99)
	ratio := med(d99) / med(b99)
	fmt.Printf("topic-isolation rate=%d subscribers=%d size=%d, %d interleaved rounds each, Publish returned -> received from all %d queues, ms, median [min–max]: base p50 %s p99 %s; one dead http subscriber p50 %s p99 %s; p99 ratio dead/base %.2f (%+.2f ms); Publish called -> received from all, p99: base %s, dead %s\n",
		max(c.rate, 1), subs, c.size, rounds, subs, show(b50), show(b99), show(d50), show(d99), ratio, med(d99)-med(b99), show(be99), show(de99))
	return map[string]any{"ok": ok, "mode": "topic-isolation", "baseP99ms": med(b99), "deadP99ms": med(d99), "p99Ratio": ratio}
}

// latencyRun publishes at --rate to a fresh topic for --duration and
// measures, per message, the time from Publish returning to its having
// been received from every queue.
//
// The consumer side is built so that it measures receivability, not
// itself: every queue has two receivers, so one long poll is outstanding
// while the other's answer is being handled, and a message published in
// between never waits for a new request; deletes go to one deleter per
// queue that sends whatever handles have piled up (at most 10 a call)
// while the receivers go on, so a delete's commit never stands between a
// receive and the next. A message's receive time is taken when its
// receive call returned (after the client decoded the answer).
func latencyRun(ctx context.Context, c config, subs int, withDead bool) latencyRound {
	sn, sq := newSNSClient(c), newClient(c)
	arn, urls, cleanup := topicSetup(ctx, sn, sq, subs, withDead)
	defer cleanup()
	var mu sync.Mutex
	returned := map[uint64]time.Time{}
	called := map[uint64]time.Time{}
	lastRecv := map[uint64]time.Time{}
	count := map[uint64]int{}
	var recvs []traceRecv // with --trace: every copy's receive
	stopRecv := make(chan struct{})
	var cwg, dwg sync.WaitGroup
	cons := newConsumer(c, sq)
	dels := make([]chan string, len(urls))
	for qi, u := range urls {
		dels[qi] = make(chan string, 4096)
		dwg.Go(func() { deleter(ctx, cons, u, dels[qi]) })
		for range 2 {
			cwg.Go(func() {
				for {
					select {
					case <-stopRecv:
						return
					default:
					}
					ms, err := cons.receive(ctx, u)
					if err != nil || len(ms) == 0 {
						continue
					}
					now := time.Now()
					mu.Lock()
					for _, m := range ms {
						if id, _, ok := parseBody(m.Body); ok {
							if c.trace != "" {
								recvs = append(recvs, traceRecv{id, qi, now})
							}
							count[id]++
							lastRecv[id] = now
						}
					}
					mu.Unlock()
					for _, m := range ms {
						dels[qi] <- m.ReceiptHandle
					}
				}
			})
		}
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
				t0 := time.Now()
				if _, err := sn.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: aws.String(body(id, c.size))}); err != nil {
					errs.Add(1)
					continue
				}
				now := time.Now()
				mu.Lock()
				returned[id], called[id] = now, t0
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
	for _, d := range dels {
		close(d)
	}
	dwg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if c.trace != "" {
		writeTrace(c.trace, urls, recvs, called, returned)
	}
	var lat, e2e, pub []time.Duration
	incomplete := 0
	for id, r := range returned {
		pub = append(pub, r.Sub(called[id]))
		if count[id] < subs {
			incomplete++
			continue
		}
		lat = append(lat, max(0, lastRecv[id].Sub(r)))
		e2e = append(e2e, lastRecv[id].Sub(called[id]))
	}
	pct := func(ds []time.Duration, p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	return latencyRound{n: len(returned), errs: int(errs.Load()), incomplete: incomplete,
		p50: pct(lat, 0.5), p90: pct(lat, 0.9), p99: pct(lat, 0.99), max: pct(lat, 1),
		e2e50: pct(e2e, 0.5), e2e99: pct(e2e, 0.99), pub50: pct(pub, 0.5), pub99: pct(pub, 0.99)}
}

// deleter deletes the handles sent on ch from queue u, in batches of
// whatever has piled up (at most 10), until ch is closed and drained.
func deleter(ctx context.Context, cons consumer, u string, ch <-chan string) {
	for h := range ch {
		batch := []string{h}
	more:
		for len(batch) < 10 {
			select {
			case h, ok := <-ch:
				if !ok {
					break more
				}
				batch = append(batch, h)
			default:
				break more
			}
		}
		cons.delete(ctx, u, batch)
	}
}

// consumer is how the latency modes' consumers receive and delete: the
// stock SDK (default) or, with --client lean, the lean client (lean.go),
// whose CPU per call is a fraction of the SDK's. The publisher is always
// the stock SNS client.
type consumer struct {
	receive func(ctx context.Context, u string) ([]message, error)
	delete  func(ctx context.Context, u string, handles []string)
}

func newConsumer(c config, sq *sqs.Client) consumer {
	if c.client == "lean" {
		lc, err := newLeanClient(c.endpoint, "us-east-1", c.ak, c.sk, caBundle())
		if err != nil {
			fail("lean client: %v", err)
		}
		return consumer{
			receive: func(ctx context.Context, u string) ([]message, error) { return lc.Receive(ctx, u, 10, 1) },
			delete:  func(ctx context.Context, u string, hs []string) { _, _ = lc.Delete(ctx, u, hs, true) },
		}
	}
	return consumer{
		receive: func(ctx context.Context, u string) ([]message, error) {
			r, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				return nil, err
			}
			ms := make([]message, len(r.Messages))
			for i, m := range r.Messages {
				ms[i] = message{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body)}
			}
			return ms, nil
		},
		delete: func(ctx context.Context, u string, hs []string) {
			es := make([]types.DeleteMessageBatchRequestEntry, len(hs))
			for i, h := range hs {
				es[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)}
			}
			_, _ = sq.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: es})
		},
	}
}

// traceRecv is one copy of a message received from queue urls[q].
type traceRecv struct {
	id uint64
	q  int
	at time.Time
}

// writeTrace appends a round's per-message timestamps to file, one event a
// line: "called ID NS", "returned ID NS" (Publish) and "recv ID/QUEUE NS"
// (the receive call that got that copy returned), NS in Unix nanoseconds.
// A server built with the temporary timers of scripts/topic-trace.patch
// writes the server's side in the same form; scripts/topic-trace.py joins
// the two and says where each message's time went.
func writeTrace(file string, urls []string, recvs []traceRecv, called, returned map[uint64]time.Time) {
	var b strings.Builder
	for id, r := range returned {
		fmt.Fprintf(&b, "called %d %d\nreturned %d %d\n", id, called[id].UnixNano(), id, r.UnixNano())
	}
	for _, r := range recvs {
		u := urls[r.q]
		fmt.Fprintf(&b, "recv %d/%s %d\n", r.id, u[strings.LastIndexByte(u, '/')+1:], r.at.UnixNano())
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.WriteString(b.String())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fail("--trace: %v", err)
	}
}
