// Command orch-loadgen drives an SQS endpoint with the stock aws-sdk-go-v2
// client and accounts for every message: producers send bodies carrying a
// unique id and their send time, consumers receive (long polling), record
// end-to-end latency and delete; at the end every id must have been
// received (duplicates are counted, as SQS delivers at least once).
//
//	orch-loadgen --endpoint http://127.0.0.1:9324 --batch 10 --duration 20s
//	orch-loadgen --batch 1 --rate 500 --duration 20s     # latency at a steady rate
//	orch-loadgen --client lean --batch 1 --receive-max 1 # the lean SQS client (lean.go), not the SDK
//	orch-loadgen --mode wake --rounds 50                 # long-poll wake-up
//	orch-loadgen --amqp amqp://guest:guest@127.0.0.1:5672/ --queue-type quorum   # RabbitMQ, same shape (amqp.go)
//	orch-loadgen --amqp amqps://guest:guest@127.0.0.1:5671/ --amqp-ca ca.pem     # RabbitMQ over TLS, certificate verified
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
	"runtime/pprof"
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
	messages              uint64 // throughput mode: send this many messages instead of for duration
	rate                  int
	rounds                int
	subscribers           int
	receiveMax            int    // messages per receive (AMQP: the consumer's prefetch)
	amqpURL, queueType    string // AMQP mode: the broker and classic or quorum
	amqpCA                string // AMQP mode over amqps://: the CA file the broker's certificate must chain to
	jsonOut               bool
	ak, sk                string
	trace                 string // topic latency modes: per-message timestamps to this file
	client                string // throughput mode: sdk (stock aws-sdk-go-v2) or lean (lean.go)
}

func main() {
	var c config
	flag.StringVar(&c.endpoint, "endpoint", envOr("AWS_ENDPOINT_URL", "http://127.0.0.1:9324"), "SQS endpoint")
	flag.StringVar(&c.queue, "queue", "", "queue name (default: a fresh loadgen-<time> queue)")
	flag.StringVar(&c.mode, "mode", "throughput", "throughput, wake, topic, topic-latency or topic-isolation (see topic.go)")
	flag.IntVar(&c.subscribers, "subscribers", 10, "topic modes: queue subscriptions of the topic")
	flag.IntVar(&c.producers, "producers", 4, "producer goroutines")
	flag.IntVar(&c.consumers, "consumers", 4, "consumer goroutines")
	flag.IntVar(&c.batch, "batch", 10, "messages per send/delete call (1: SendMessage and DeleteMessage)")
	flag.IntVar(&c.size, "size", 100, "message body bytes")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "how long producers send")
	flag.Uint64Var(&c.messages, "messages", 0, "SQS throughput mode: send exactly this many messages (then drain) instead of sending for --duration")
	flag.IntVar(&c.rate, "rate", 0, "total messages per second to send (0: as fast as possible)")
	flag.IntVar(&c.receiveMax, "receive-max", 10, "messages per receive, 1 to 10 (AMQP: the consumer prefetch)")
	flag.StringVar(&c.amqpURL, "amqp", "", "drive this AMQP 0-9-1 broker (RabbitMQ) instead of SQS, same shape: see amqp.go")
	flag.StringVar(&c.amqpCA, "amqp-ca", "", "with an amqps:// --amqp URL: verify the broker's certificate against the CA certificates in this PEM file (default: the system's roots)")
	flag.StringVar(&c.queueType, "queue-type", "classic", "AMQP mode: classic or quorum (both durable)")
	flag.IntVar(&c.rounds, "rounds", 50, "wake mode: how many long polls to wake; topic-isolation: how many rounds of each kind")
	flag.BoolVar(&c.jsonOut, "json", false, "print a JSON result line too")
	flag.BoolVar(&deadHTTP, "dead-http", false, "topic modes: add one http subscriber that never answers")
	flag.StringVar(&c.ak, "access-key", envOr("AWS_ACCESS_KEY_ID", "AKIDORCHDEV"), "access key id")
	flag.StringVar(&c.sk, "secret-key", envOr("AWS_SECRET_ACCESS_KEY", "orch-dev-secret"), "secret access key")
	flag.StringVar(&c.trace, "trace", "", "topic latency modes: append each message's timestamps (Publish called and returned, each queue's receive returned; Unix ns) to this file, one event a line, for scripts/topic-trace.py")
	flag.StringVar(&c.client, "client", "sdk", "throughput mode, and the topic latency modes' consumers: sdk (the stock aws-sdk-go-v2 SQS client) or lean (same wire protocol, SigV4 with a cached key, MD5 checked, little else: client CPU comparable to an AMQP client's; see lean.go)")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile to this file (where the client's CPU goes)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail("--cpuprofile: %v", err)
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	defer stopProfile()
	if c.client != "sdk" && c.client != "lean" {
		fail("--client must be sdk or lean")
	}
	if c.client == "lean" && (c.mode != "throughput" && c.mode != "topic-latency" && c.mode != "topic-isolation" || c.amqpURL != "") {
		fail("--client lean runs the SQS throughput mode and the topic latency modes' consumers only")
	}
	if c.messages > 0 && (c.mode != "throughput" || c.amqpURL != "") {
		fail("--messages runs the SQS throughput mode only")
	}
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
	if c.mode == "topic" || c.mode == "topic-latency" || c.mode == "topic-isolation" {
		f := topicThroughput
		switch c.mode {
		case "topic-latency":
			f = topicLatency
		case "topic-isolation":
			f = topicIsolation
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
	if c.mode != "throughput" && c.mode != "wake" {
		fail("--mode must be throughput, wake, topic or topic-latency")
	}
	sdk := newClient(c)
	var qc queueClient = sdkClient{sdk}
	if c.client == "lean" {
		lean, err := newLeanClient(c.endpoint, "us-east-1", c.ak, c.sk, caBundle())
		if err != nil {
			fail("%v", err)
		}
		qc = lean
	}
	if c.queue == "" {
		c.queue = "loadgen-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	qurl, err := qc.CreateQueue(ctx, c.queue)
	if err != nil {
		fail("create queue: %v", err)
	}
	var res map[string]any
	if c.mode == "throughput" {
		res = throughput(ctx, qc, qurl, c)
	} else {
		res = wake(ctx, sdk, qurl, c)
	}
	_ = qc.DeleteQueue(ctx, qurl)
	if c.jsonOut {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
	if ok, _ := res["ok"].(bool); !ok {
		stopProfile()
		os.Exit(1)
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// stopProfile ends --cpuprofile (before an exit too).
var stopProfile = func() {}

func fail(f string, a ...any) {
	stopProfile()
	fmt.Fprintf(os.Stderr, "orch-loadgen: "+f+"\n", a...)
	os.Exit(2)
}

func newClient(c config) *sqs.Client { return newClientTLS(c, caBundle()) }

// dials counts the connections the SQS clients opened (both kinds, TLS or
// not). Eight goroutines need eight kept-alive connections; more means
// connections were dropped and handshakes paid again, which costs the
// server too. The stock SDK drops some: smithy-go closes the request body
// as soon as the response arrives, and when that happens before net/http's
// writer has finished checking the body for bytes past its Content-Length,
// the check reads io.EOF from the closed body, and the transport closes the
// connection as if the write had failed (the request itself succeeded).
// See docs/queues.md, "Why the stock SDK costs the server more".
var dials atomic.Int64

// countingDial wraps a dial function to count its connections in dials.
func countingDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil {
			dials.Add(1)
		}
		return conn, err
	}
}

func newClientTLS(c config, tlsCfg *tls.Config) *sqs.Client {
	tr := &http.Transport{
		DialContext:         countingDial((&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext),
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     tlsCfg,
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
	// calls counts the SQS calls made (sends, receives, deletes): with
	// the server's CPU it gives the cost per request, which does not move
	// with how many messages each receive happened to find (that depends on
	// how far the consumers lag the producers).
	calls   atomic.Int64
	errs    atomic.Int64
	lastErr atomic.Value
}

func (t *tally) err(e error) {
	t.errs.Add(1)
	t.lastErr.Store(e.Error())
}

// queueClient is what the throughput mode needs of an SQS client: the
// stock SDK (sdkClient) or the lean one (lean.go). batch false means the
// single-message call (SendMessage, DeleteMessage) with one entry.
type queueClient interface {
	CreateQueue(ctx context.Context, name string) (string, error)
	DeleteQueue(ctx context.Context, qurl string) error
	Send(ctx context.Context, qurl string, bodies []string, batch bool) (int, error)
	Receive(ctx context.Context, qurl string, max, wait int) ([]message, error)
	Delete(ctx context.Context, qurl string, handles []string, batch bool) (int, error)
}

// sdkClient is queueClient on the stock aws-sdk-go-v2 SQS client (which
// checks the MD5s itself).
type sdkClient struct{ cli *sqs.Client }

func (s sdkClient) CreateQueue(ctx context.Context, name string) (string, error) {
	out, err := s.cli.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

func (s sdkClient) DeleteQueue(ctx context.Context, qurl string) error {
	_, err := s.cli.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &qurl})
	return err
}

func (s sdkClient) Send(ctx context.Context, qurl string, bodies []string, batch bool) (int, error) {
	if !batch && len(bodies) == 1 {
		if _, err := s.cli.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &qurl, MessageBody: &bodies[0]}); err != nil {
			return 0, err
		}
		return 1, nil
	}
	es := make([]types.SendMessageBatchRequestEntry, len(bodies))
	for i := range es {
		es[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: &bodies[i]}
	}
	out, err := s.cli.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &qurl, Entries: es})
	if err != nil {
		return 0, err
	}
	if len(out.Failed) > 0 {
		return len(out.Successful), fmt.Errorf("send batch: %d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return len(out.Successful), nil
}

func (s sdkClient) Receive(ctx context.Context, qurl string, max, wait int) ([]message, error) {
	out, err := s.cli.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &qurl, MaxNumberOfMessages: int32(max), WaitTimeSeconds: int32(wait)})
	if err != nil {
		return nil, err
	}
	ms := make([]message, len(out.Messages))
	for i, m := range out.Messages {
		ms[i] = message{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), MD5OfBody: aws.ToString(m.MD5OfBody), Body: aws.ToString(m.Body)}
	}
	return ms, nil
}

func (s sdkClient) Delete(ctx context.Context, qurl string, handles []string, batch bool) (int, error) {
	if !batch && len(handles) == 1 {
		if _, err := s.cli.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &qurl, ReceiptHandle: &handles[0]}); err != nil {
			return 0, err
		}
		return 1, nil
	}
	es := make([]types.DeleteMessageBatchRequestEntry, len(handles))
	for i := range es {
		es[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: &handles[i]}
	}
	d, err := s.cli.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &qurl, Entries: es})
	if err != nil {
		return 0, err
	}
	return len(d.Successful), nil
}

func throughput(ctx context.Context, cli queueClient, qurl string, c config) map[string]any {
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
				first, k := reserve(&sent, c.batch, c.messages)
				if k == 0 {
					return
				}
				bodies := make([]string, k)
				for i := range bodies {
					bodies[i] = body(first+uint64(i), c.size)
				}
				n, err := cli.Send(ctx, qurl, bodies, c.batch > 1)
				t.calls.Add(1)
				acked.Add(int64(n))
				if err != nil {
					t.err(err)
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
				msgs, err := cli.Receive(ctx, qurl, c.receiveMax, 1)
				t.calls.Add(1)
				if err != nil {
					t.err(err)
					continue
				}
				bodies := make([]string, len(msgs))
				handles := make([]string, len(msgs))
				for i, m := range msgs {
					bodies[i], handles[i] = m.Body, m.ReceiptHandle
				}
				lat = t.record(lat, bodies)
				if len(msgs) == 0 {
					continue
				}
				if c.batch == 1 {
					for _, h := range handles {
						n, err := cli.Delete(ctx, qurl, []string{h}, false)
						t.calls.Add(1)
						if err != nil {
							t.err(err)
						}
						t.deleted.Add(int64(n))
					}
					continue
				}
				n, err := cli.Delete(ctx, qurl, handles, true)
				t.calls.Add(1)
				if err != nil {
					t.err(err)
				}
				t.deleted.Add(int64(n))
			}
		}()
	}

	if c.messages > 0 {
		pwg.Wait() // the producers stop once they have handed out every id
	} else {
		time.Sleep(c.duration)
		close(stopSend)
		pwg.Wait()
	}
	return t.finish(c, "", start, sent.Load(), acked.Load(), func() { close(stopRecv); cwg.Wait() })
}

// reserve hands out the ids of the next send, up to batch of them: the first
// id and how many. With a limit (--messages) it hands out no id past it, and
// 0 once every id is out, which ends the producer.
func reserve(sent *atomic.Uint64, batch int, limit uint64) (uint64, int) {
	for {
		cur := sent.Load()
		k := uint64(batch)
		if limit > 0 {
			if cur >= limit {
				return 0, 0
			}
			k = min(k, limit-cur)
		}
		if sent.CompareAndSwap(cur, cur+k) {
			return cur + 1, int(k)
		}
	}
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
	fmt.Printf("%sbatch=%d producers=%d consumers=%d size=%d rate=%d receive=%d: sent %d (acked %d) received %d unique (%d duplicates) deleted %d missing %d errors %d in %.2fs (sending %.2fs): %.0f msgs/s end to end; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f; %d calls; %d connections; client cpu %.0f us/msg\n",
		prefix, c.batch, c.producers, c.consumers, c.size, c.rate, c.receiveMax, sent, acked, len(t.seen), t.dups, t.deleted.Load(), missing, t.errs.Load(),
		elapsed.Seconds(), sendEnd.Seconds(), rate, pct(0.5), pct(0.9), pct(0.99), pct(1), t.calls.Load(), dials.Load(), clientCPU)
	if le != "" {
		fmt.Printf("last error: %s\n", le)
	}
	return map[string]any{"ok": ok, "mode": "throughput", "batch": c.batch, "rate": c.rate, "acked": acked, "received": len(t.seen),
		"duplicates": t.dups, "missing": missing, "errors": t.errs.Load(), "msgsPerSec": rate, "p50ms": pct(0.5), "p99ms": pct(0.99), "maxms": pct(1),
		"clientCPUMicrosPerMsg": clientCPU, "calls": t.calls.Load(), "connections": dials.Load()}
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
