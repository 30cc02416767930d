package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orch-project/orch/internal/testutil"
)

// eventLog is a fault test's story: timestamped events and the invariants
// found broken, printed when the test fails.
type eventLog struct {
	t0     time.Time
	mu     sync.Mutex
	events []string
	broken []string
}

func newEventLog() *eventLog { return &eventLog{t0: time.Now()} }

func (l *eventLog) event(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%8.3fs %s", time.Since(l.t0).Seconds(), fmt.Sprintf(format, args...)))
}

func (l *eventLog) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.event("INVARIANT BROKEN: %s", msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken = append(l.broken, msg)
}

func (l *eventLog) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.broken...)
}

func (l *eventLog) log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, "\n")
}

// queueTraffic is a producer and a consumer on one queue, each talking to
// any server and moving to the next when one fails. SDK retries are off:
// a retried send whose first attempt went through would be a second
// message, and the books below count acknowledged calls exactly.
type queueTraffic struct {
	log    *eventLog
	cancel context.CancelFunc
	wg     sync.WaitGroup
	url    string
	cli    []*awssqs.Client

	mu        sync.Mutex
	acked     map[string]string    // message id → body, send acknowledged
	deleted   map[string]time.Time // message id → when its delete was acknowledged
	received  map[string]bool
	sendFails int
	outages   []time.Duration // from a first failed send to the next acknowledged one
	recvFails int
	delFails  int
}

// startQueueTraffic creates queue name and starts a producer and a paced
// consumer on it, through c's servers.
func startQueueTraffic(parent context.Context, l *eventLog, c *cluster, name string) *queueTraffic {
	q := &queueTraffic{log: l, acked: map[string]string{}, deleted: map[string]time.Time{}, received: map[string]bool{}}
	for _, u := range c.urls {
		q.cli = append(q.cli, awssqs.New(awssqs.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(u), Retryer: aws.NopRetryer{}, HTTPClient: e2eHTTP,
			Credentials: credentials.NewStaticCredentialsProvider(c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey, ""),
		}))
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; q.url == ""; i++ {
		ctx, cancel := context.WithTimeout(parent, 15*time.Second)
		out, err := q.cli[i%len(q.cli)].CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name)})
		cancel()
		switch {
		case err == nil:
			q.url = *out.QueueUrl
			l.event("created queue %s", name)
		case time.Now().After(deadline):
			l.violate("create queue %s: refused for a minute: %v", name, err)
			return q
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithCancel(parent)
	q.cancel = cancel
	q.wg.Go(func() { q.produce(ctx) })
	q.wg.Go(func() { q.consume(ctx, false) })
	return q
}

func (q *queueTraffic) produce(ctx context.Context) {
	srv, failing := 0, false
	var since time.Time
	for seq := 0; ctx.Err() == nil; seq++ {
		body := fmt.Sprintf("chaos-%06d", seq) // never reused, so a duplicate is told apart by its id
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := q.cli[srv].SendMessage(c, &awssqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(body)})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			q.mu.Lock()
			q.sendFails++
			q.mu.Unlock()
			if !failing {
				q.log.event("producer: send through server %d failed (outcome unknown, not counted): %v", srv, err)
				since = time.Now()
			}
			failing = true
			srv = (srv + 1) % len(q.cli)
			time.Sleep(250 * time.Millisecond)
			continue
		}
		q.mu.Lock()
		if failing {
			gap := time.Since(since)
			q.log.event("producer: sends succeed again through server %d, %.3fs after the first failure", srv, gap.Seconds())
			q.outages = append(q.outages, gap)
			failing = false
		}
		q.acked[*out.MessageId] = body
		q.mu.Unlock()
		time.Sleep(40 * time.Millisecond)
	}
}

// consume receives, checks that no message comes back after its delete
// was acknowledged, and deletes. While the chaos lasts it pauses between
// batches, so a backlog is in the queue when owners die.
func (q *queueTraffic) consume(ctx context.Context, draining bool) {
	srv, failing := 0, false
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		out, err := q.cli[srv].ReceiveMessage(c, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 20})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			q.mu.Lock()
			q.recvFails++
			q.mu.Unlock()
			if !failing {
				q.log.event("consumer: receive through server %d failed: %v", srv, err)
			}
			failing = true
			srv = (srv + 1) % len(q.cli)
			time.Sleep(250 * time.Millisecond)
			continue
		}
		failing = false
		for _, m := range out.Messages {
			q.mu.Lock()
			if at, gone := q.deleted[*m.MessageId]; gone {
				q.mu.Unlock()
				q.log.violate("message %s (%s) was received again %.3fs after its delete was acknowledged", *m.MessageId, aws.ToString(m.Body), time.Since(at).Seconds())
				continue
			}
			q.received[*m.MessageId] = true
			q.mu.Unlock()
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := q.cli[srv].DeleteMessage(c, &awssqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle})
			cancel()
			q.mu.Lock()
			if err == nil {
				q.deleted[*m.MessageId] = time.Now()
			} else {
				q.delFails++ // outcome unknown: the message may come back, which is allowed
			}
			q.mu.Unlock()
		}
		if !draining {
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// stop ends the producer and the paced consumer.
func (q *queueTraffic) stop() {
	if q.cancel == nil {
		return
	}
	q.cancel()
	q.wg.Wait()
}

// check drains the queue until every acknowledged send was received (an
// in-flight message comes back after its 20 s visibility timeout), then
// keeps receiving a little longer to catch late resurrections.
func (q *queueTraffic) check() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { q.consume(ctx, true) })
	missing := func() []string {
		q.mu.Lock()
		defer q.mu.Unlock()
		var m []string
		for id, body := range q.acked {
			if !q.received[id] {
				m = append(m, body+" ("+id+")")
			}
		}
		sort.Strings(m)
		return m
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a few more empty receives: nothing deleted may come back
	cancel()
	wg.Wait()
	if m := missing(); len(m) > 0 {
		if len(m) > 20 {
			m = append(m[:20], fmt.Sprintf("and %d more", len(m)-20))
		}
		q.log.violate("%d acknowledged sends were never received: %s", len(missing()), strings.Join(m, ", "))
	}
}

func (q *queueTraffic) summary() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	longest := time.Duration(0)
	for _, o := range q.outages {
		longest = max(longest, o)
	}
	return fmt.Sprintf("queue: %d sends acknowledged (%d failed), %d received, %d deletes acknowledged (%d failed), %d receives failed; %d send outages, the longest %.1fs",
		len(q.acked), q.sendFails, len(q.received), len(q.deleted), q.delFails, q.recvFails, len(q.outages), longest.Seconds())
}

// waitAcked waits until n more sends than now were acknowledged.
func (q *queueTraffic) waitAcked(t *testing.T, n int) {
	t.Helper()
	q.mu.Lock()
	want := len(q.acked) + n
	q.mu.Unlock()
	testutil.WaitFor(t, 60*time.Second, fmt.Sprintf("%d more acknowledged sends", n), func() (bool, string) {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.acked) >= want, fmt.Sprintf("%d of %d", len(q.acked), want)
	})
}
