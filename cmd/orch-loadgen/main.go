// Command orch-loadgen drives an SQS endpoint with the stock aws-sdk-go-v2
// client and accounts for every message: producers send bodies carrying a
// unique id and their send time, consumers receive (long polling), record
// end-to-end latency and delete; at the end every id must have been
// received (duplicates are counted, as SQS delivers at least once).
//
//	orch-loadgen --endpoint http://127.0.0.1:9324 --batch 10 --duration 20s
//	orch-loadgen --batch 1 --rate 500 --duration 20s     # latency at a steady rate
//	orch-loadgen --mode wake --rounds 50                 # long-poll wake-up
//	orch-loadgen --amqp amqp://guest:guest@127.0.0.1:5672/ --queue-type quorum   # RabbitMQ, same shape (amqp.go)
//
// Output: one human line and, with --json, one JSON object per run.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

type config struct {
	endpoint, queue, mode string
	producers, consumers  int
	batch, size           int
	duration              time.Duration
	rate                  int
	rounds                int
	subscribers           int
	receiveMax            int    // messages per receive (AMQP: the consumer's prefetch)
	amqpURL, queueType    string // AMQP mode: the broker and classic or quorum
	jsonOut               bool
	ak, sk                string
}

func main() {
	var c config
	flag.StringVar(&c.endpoint, "endpoint", envOr("AWS_ENDPOINT_URL", "http://127.0.0.1:9324"), "SQS endpoint")
	flag.StringVar(&c.queue, "queue", "", "queue name (default: a fresh loadgen-<time> queue)")
	flag.StringVar(&c.mode, "mode", "throughput", "throughput, wake, topic or topic-latency (see topic.go)")
	flag.IntVar(&c.subscribers, "subscribers", 10, "topic modes: queue subscriptions of the topic")
	flag.IntVar(&c.producers, "producers", 4, "producer goroutines")
	flag.IntVar(&c.consumers, "consumers", 4, "consumer goroutines")
	flag.IntVar(&c.batch, "batch", 10, "messages per send/delete call (1: SendMessage and DeleteMessage)")
	flag.IntVar(&c.size, "size", 100, "message body bytes")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "how long producers send")
	flag.IntVar(&c.rate, "rate", 0, "total messages per second to send (0: as fast as possible)")
	flag.IntVar(&c.receiveMax, "receive-max", 10, "messages per receive, 1 to 10 (AMQP: the consumer prefetch)")
	flag.StringVar(&c.amqpURL, "amqp", "", "drive this AMQP 0-9-1 broker (RabbitMQ) instead of SQS, same shape: see amqp.go")
	flag.StringVar(&c.queueType, "queue-type", "classic", "AMQP mode: classic or quorum (both durable)")
	flag.IntVar(&c.rounds, "rounds", 50, "wake mode: how many long polls to wake")
	flag.BoolVar(&c.jsonOut, "json", false, "print a JSON result line too")
	flag.BoolVar(&deadHTTP, "dead-http", false, "topic modes: add one http subscriber that never answers")
	flag.StringVar(&c.ak, "access-key", envOr("AWS_ACCESS_KEY_ID", "AKIDORCHDEV"), "access key id")
	flag.StringVar(&c.sk, "secret-key", envOr("AWS_SECRET_ACCESS_KEY", "orch-dev-secret"), "secret access key")
	flag.Parse()
	if c.batch < 1 || c.batch > 10 {
		fail("--batch must be 1 to 10")
	}
	if c.size < 40 {
		fail("--size must be at least 40 (the body carries an id and a timestamp)")
	}
	if c.receiveMax < 1 || c.receiveMax > 10 {
		fail("--receive-max must be 1 to 10")
	}
	ctx := context.Background()
	if c.amqpURL != "" {
		if c.mode != "throughput" {
			fail("--amqp runs the throughput mode only")
		}
		if c.queueType != "classic" && c.queueType != "quorum" {
			fail("--queue-type must be classic or quorum")
		}
		res := amqpThroughput(c)
		if c.jsonOut {
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
		}
		if ok, _ := res["ok"].(bool); !ok {
			os.Exit(1)
		}
		return
	}
	if c.mode == "topic" || c.mode == "topic-latency" {
		f := topicThroughput
		if c.mode == "topic-latency" {
			f = topicLatency
		}
		res := f(ctx, c, c.subscribers)
		if c.jsonOut {
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
		}
		if ok, _ := res["ok"].(bool); !ok {
			os.Exit(1)
		}
		return
	}
	cli := newClient(c)
	if c.queue == "" {
		c.queue = "loadgen-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	out, err := cli.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &c.queue})
	if err != nil {
		fail("create queue: %v", err)
	}
	qurl := *out.QueueUrl
	var res map[string]any
	switch c.mode {
	case "throughput":
		res = throughput(ctx, cli, qurl, c)
	case "wake":
		res = wake(ctx, cli, qurl, c)
	default:
		fail("--mode must be throughput or wake")
	}
	_, _ = cli.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &qurl})
	if c.jsonOut {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
	if ok, _ := res["ok"].(bool); !ok {
		os.Exit(1)
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "orch-loadgen: "+f+"\n", a...)
	os.Exit(2)
}

func newClient(c config) *sqs.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     caBundle(),
	}
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(c.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(c.ak, c.sk, ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
}

// caBundle trusts the CA file in AWS_CA_BUNDLE (as the SDKs' default
// config does; `orch aws-env` sets it), nil without it.
func caBundle() *tls.Config {
	path := os.Getenv("AWS_CA_BUNDLE")
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "AWS_CA_BUNDLE:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		fmt.Fprintln(os.Stderr, "AWS_CA_BUNDLE: no PEM certificate in", path)
		os.Exit(2)
	}
	return &tls.Config{RootCAs: pool}
}

// body is "<id> <send unix ns> " padded with x to size bytes.
func body(id uint64, size int) string {
	s := strconv.FormatUint(id, 10) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + " "
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

func parseBody(b string) (uint64, int64, bool) {
	f := strings.SplitN(b, " ", 3)
	if len(f) < 3 {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(f[0], 10, 64)
	ts, err2 := strconv.ParseInt(f[1], 10, 64)
	return id, ts, err1 == nil && err2 == nil
}

type tally struct {
	mu       sync.Mutex
	seen     map[uint64]bool
	dups     int
	lat      []time.Duration
	received atomic.Int64
	deleted  atomic.Int64
	errs     atomic.Int64
	lastErr  atomic.Value
}

func (t *tally) err(e error) {
	t.errs.Add(1)
	t.lastErr.Store(e.Error())
}

func throughput(ctx context.Context, cli *sqs.Client, qurl string, c config) map[string]any {
	var sent atomic.Uint64 // ids handed out
	var acked atomic.Int64 // sends that returned success
	t := &tally{seen: map[uint64]bool{}}
	stopSend := make(chan struct{})
	start := time.Now()

	var pwg sync.WaitGroup
	for p := 0; p < c.producers; p++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			var tick *time.Ticker
			if c.rate > 0 {
				per := float64(c.rate) / float64(c.producers) / float64(c.batch)
				tick = time.NewTicker(time.Duration(float64(time.Second) / per))
				defer tick.Stop()
			}
			for {
				if tick != nil {
					select {
					case <-tick.C:
					case <-stopSend:
						return
					}
				} else {
					select {
					case <-stopSend:
						return
					default:
					}
				}
				if c.batch == 1 {
					id := sent.Add(1)
					b := body(id, c.size)
					if _, err := cli.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &qurl, MessageBody: &b}); err != nil {
						t.err(err)
						continue
					}
					acked.Add(1)
					continue
				}
				es := make([]types.SendMessageBatchRequestEntry, c.batch)
				for i := range es {
					b := body(sent.Add(1), c.size)
					es[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(b)}
				}
				out, err := cli.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &qurl, Entries: es})
				if err != nil {
					t.err(err)
					continue
				}
				acked.Add(int64(len(out.Successful)))
				if len(out.Failed) > 0 {
					t.err(fmt.Errorf("send batch: %d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message)))
				}
			}
		}()
	}

	stopRecv := make(chan struct{})
	var cwg sync.WaitGroup
	for i := 0; i < c.consumers; i++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			defer func() {
				t.mu.Lock()
				t.lat = append(t.lat, lat...)
				t.mu.Unlock()
			}()
			for {
				select {
				case <-stopRecv:
					return
				default:
				}
				out, err := cli.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &qurl, MaxNumberOfMessages: int32(c.receiveMax), WaitTimeSeconds: 1})
				if err != nil {
					t.err(err)
					continue
				}
				bodies := make([]string, len(out.Messages))
				for i, m := range out.Messages {
					bodies[i] = aws.ToString(m.Body)
				}
				lat = t.record(lat, bodies)
				if len(out.Messages) == 0 {
					continue
				}
				if c.batch == 1 {
					for _, m := range out.Messages {
						if _, err := cli.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &qurl, ReceiptHandle: m.ReceiptHandle}); err != nil {
							t.err(err)
							continue
						}
						t.deleted.Add(1)
					}
					continue
				}
				es := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
				for i, m := range out.Messages {
					es[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
				}
				d, err := cli.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &qurl, Entries: es})
				if err != nil {
					t.err(err)
					continue
				}
				t.deleted.Add(int64(len(d.Successful)))
			}
		}()
	}

	time.Sleep(c.duration)
	close(stopSend)
	pwg.Wait()
	return t.finish(c, "", start, sent.Load(), acked.Load(), func() { close(stopRecv); cwg.Wait() })
}

// record counts received bodies (ids and duplicates) and appends their
// end-to-end latencies to lat (a consumer's own slice, merged at the end).
func (t *tally) record(lat []time.Duration, bodies []string) []time.Duration {
	now := time.Now().UnixNano()
	t.received.Add(int64(len(bodies)))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range bodies {
		id, ts, ok := parseBody(b)
		if !ok {
			continue
		}
		if t.seen[id] {
			t.dups++
		}
		t.seen[id] = true
		lat = append(lat, time.Duration(now-ts))
	}
	return lat
}

// finish runs after the producers stopped: it waits until every
// acknowledged message was received (or 60 s), stops the consumers, and
// prints the result line. prefix names the system for non-SQS runs; SQS
// lines start with "batch=" (scripts/bench-summary.py parses them).
func (t *tally) finish(c config, prefix string, start time.Time, sent uint64, acked int64, stopConsumers func()) map[string]any {
	sendEnd := time.Since(start)
	drainDeadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(drainDeadline) {
		t.mu.Lock()
		n := len(t.seen)
		t.mu.Unlock()
		if int64(n) >= acked {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stopConsumers()

	t.mu.Lock()
	defer t.mu.Unlock()
	// Every acknowledged id must be among those received. Ids of failed
	// sends may or may not have been stored.
	missing := int64(0)
	if int64(len(t.seen)) < acked {
		missing = acked - int64(len(t.seen))
	}
	sort.Slice(t.lat, func(i, j int) bool { return t.lat[i] < t.lat[j] })
	pct := func(p float64) float64 {
		if len(t.lat) == 0 {
			return 0
		}
		return float64(t.lat[min(len(t.lat)-1, int(p*float64(len(t.lat))))].Microseconds()) / 1000
	}
	rate := float64(len(t.seen)) / elapsed.Seconds()
	ok := missing == 0
	le, _ := t.lastErr.Load().(string)
	clientCPU := cpuMicrosPerMsg(len(t.seen))
	fmt.Printf("%sbatch=%d producers=%d consumers=%d size=%d rate=%d receive=%d: sent %d (acked %d) received %d unique (%d duplicates) deleted %d missing %d errors %d in %.2fs (sending %.2fs): %.0f msgs/s end to end; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f; client cpu %.0f us/msg\n",
		prefix, c.batch, c.producers, c.consumers, c.size, c.rate, c.receiveMax, sent, acked, len(t.seen), t.dups, t.deleted.Load(), missing, t.errs.Load(),
		elapsed.Seconds(), sendEnd.Seconds(), rate, pct(0.5), pct(0.9), pct(0.99), pct(1), clientCPU)
	if le != "" {
		fmt.Printf("last error: %s\n", le)
	}
	return map[string]any{"ok": ok, "mode": "throughput", "batch": c.batch, "rate": c.rate, "acked": acked, "received": len(t.seen),
		"duplicates": t.dups, "missing": missing, "errors": t.errs.Load(), "msgsPerSec": rate, "p50ms": pct(0.5), "p99ms": pct(0.99), "maxms": pct(1),
		"clientCPUMicrosPerMsg": clientCPU}
}

// cpuMicrosPerMsg is this process's user+system CPU so far per message: the
// client's share of a shared machine (the SQS SDK signs and hashes).
func cpuMicrosPerMsg(n int) float64 {
	var ru syscall.Rusage
	if n == 0 || syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
	return float64(us) / float64(n)
}

// wake measures how soon a waiting long poll returns after a send returns.
func wake(ctx context.Context, cli *sqs.Client, qurl string, c config) map[string]any {
	var ds []time.Duration
	for i := 0; i < c.rounds; i++ {
		got := make(chan time.Time, 1)
		go func() {
			out, err := cli.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &qurl, MaxNumberOfMessages: 1, WaitTimeSeconds: 20})
			if err != nil || len(out.Messages) == 0 {
				got <- time.Time{}
				return
			}
			at := time.Now()
			_, _ = cli.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &qurl, ReceiptHandle: out.Messages[0].ReceiptHandle})
			got <- at
		}()
		time.Sleep(100 * time.Millisecond) // let the poll start waiting
		b := body(uint64(i), c.size)
		if _, err := cli.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &qurl, MessageBody: &b}); err != nil {
			fail("send: %v", err)
		}
		sentAt := time.Now()
		at := <-got
		if at.IsZero() {
			fail("round %d: the long poll returned without the message", i)
		}
		ds = append(ds, max(0, at.Sub(sentAt)))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50, p99, mx := ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], ds[len(ds)-1]
	fmt.Printf("long-poll wake after send returned, %d rounds: p50 %.3f ms p99 %.3f ms max %.3f ms\n", len(ds), ms(p50), ms(p99), ms(mx))
	return map[string]any{"ok": true, "mode": "wake", "rounds": len(ds), "p50ms": ms(p50), "p99ms": ms(p99), "maxms": ms(mx)}
}
