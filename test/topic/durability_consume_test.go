package topic_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestKill9WhileConsumingAndWeb attacks the early visibility of a
// standard topic's queue copies (receivable before their commit ends):
// consumers receive and delete while publishers publish, and the server
// is killed with SIGKILL mid-stream. Two topics: one with only queue
// subscriptions (a publish may be acknowledged by the queues' commits
// alone) and one with a queue and a web server (acknowledged by the
// message's record). After a restart on the same data, every publish that
// returned success has reached every subscription at least once: received
// by the consumers before the kill, or after the restart, or POSTed to the
// web server.
func TestKill9WhileConsumingAndWeb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server process")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	srv := startServer(t, dir, addr)
	ctx := ctxT(t, 4*time.Minute)
	sn, sq := srv.sns(), srv.sqs()

	type sub struct {
		topic, queue string
		raw          bool
	}
	subs := []sub{{"only-queues", "kc-a", false}, {"only-queues", "kc-raw", true}, {"with-web", "kc-w", false}}
	topics := map[string]*string{}
	for _, name := range []string{"only-queues", "with-web"} {
		ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		topics[name] = ct.TopicArn
	}
	urls := map[string]string{}
	for _, s := range subs {
		q := createQueue(t, ctx, sq, s.queue, nil)
		urls[s.queue] = q.url
		in := &awssns.SubscribeInput{TopicArn: topics[s.topic], Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn)}
		if s.raw {
			in.Attributes = map[string]string{"RawMessageDelivery": "true"}
		}
		if _, err := sn.Subscribe(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	web := newWebSubscriber(t)
	if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topics["with-web"], Protocol: aws.String("http"), Endpoint: aws.String(web.srv.URL + "/sns")}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-web.confirmed:
		if len(got) < 4 || got[:4] != "200 " {
			t.Fatalf("GET SubscribeURL answered %s", got)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no SubscriptionConfirmation within 60s")
	}

	var mu sync.Mutex
	acked := map[string]map[string]bool{"only-queues": {}, "with-web": {}}
	got := map[string]map[string]bool{} // per queue: bodies received
	for _, s := range subs {
		got[s.queue] = map[string]bool{}
	}
	body := func(s sub, m sqstypes.Message) string {
		if s.raw {
			return *m.Body
		}
		var env struct{ Message string }
		if err := json.Unmarshal([]byte(*m.Body), &env); err != nil {
			t.Errorf("%s: not an envelope: %s", s.queue, *m.Body)
		}
		return env.Message
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Consumers delete what they receive at once: the deletes race the
	// copies' own commits.
	for _, s := range subs {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := sq.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(urls[s.queue]), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil || len(r.Messages) == 0 {
					continue
				}
				var del []sqstypes.DeleteMessageBatchRequestEntry
				mu.Lock()
				for i, m := range r.Messages {
					got[s.queue][body(s, m)] = true
					del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				mu.Unlock()
				_, _ = sq.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(urls[s.queue]), Entries: del})
			}
		})
	}
	var next atomic.Int64
	for p := range 4 {
		topic := []string{"only-queues", "with-web"}[p%2]
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%2 == 0 {
					b := fmt.Sprintf("%s-%d", topic, next.Add(1))
					if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: topics[topic], Message: aws.String(b)}); err == nil {
						mu.Lock()
						acked[topic][b] = true
						mu.Unlock()
					}
					continue
				}
				in := &awssns.PublishBatchInput{TopicArn: topics[topic]}
				for j := range 10 {
					in.PublishBatchRequestEntries = append(in.PublishBatchRequestEntries, snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), Message: aws.String(fmt.Sprintf("%s-%d", topic, next.Add(1)))})
				}
				r, err := sn.PublishBatch(ctx, in)
				if err != nil {
					continue
				}
				mu.Lock()
				for _, s := range r.Successful {
					j, _ := strconv.Atoi(*s.Id)
					acked[topic][*in.PublishBatchRequestEntries[j].Message] = true
				}
				mu.Unlock()
			}
		})
	}
	// Kill once both topics have 50 acknowledged publishes, whatever the
	// machine's speed.
	const minAcked = 50
	enough := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked["only-queues"]) >= minAcked && len(acked["with-web"]) >= minAcked
	}
	for deadline := time.Now().Add(90 * time.Second); !enough() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill()
	close(stop)
	wg.Wait()
	if !enough() {
		t.Fatalf("too little traffic before the kill: %d and %d publishes acknowledged in 90s, want %d each",
			len(acked["only-queues"]), len(acked["with-web"]), minAcked)
	}
	before := map[string]int{}
	for q, g := range got {
		before[q] = len(g)
	}

	srv2 := startServer(t, dir, addr)
	sq2 := srv2.sqs()
	for _, s := range subs {
		want := map[string]bool{}
		for b := range acked[s.topic] {
			if !got[s.queue][b] {
				want[b] = true
			}
		}
		for b := range drain(t, sq2, urls[s.queue], !s.raw, want, 90*time.Second) {
			got[s.queue][b] = true
		}
		lost := 0
		for b := range acked[s.topic] {
			if !got[s.queue][b] {
				lost++
			}
		}
		t.Logf("%s: %d acknowledged, %d received before the kill, %d distinct in all", s.queue, len(acked[s.topic]), before[s.queue], len(got[s.queue]))
		if lost > 0 {
			t.Errorf("%s: %d of %d acknowledged publishes never arrived", s.queue, lost, len(acked[s.topic]))
		}
	}
	webGot := func() map[string]bool {
		out := map[string]bool{}
		for _, m := range web.messages("Notification") {
			if s, ok := m["Message"].(string); ok {
				out[s] = true
			}
		}
		return out
	}
	missing := func() int {
		w, n := webGot(), 0
		for b := range acked["with-web"] {
			if !w[b] {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(90 * time.Second); missing() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("web: %d acknowledged, %d distinct notifications", len(acked["with-web"]), len(webGot()))
	if n := missing(); n > 0 {
		t.Errorf("web subscriber: %d of %d acknowledged publishes never arrived", n, len(acked["with-web"]))
	}
}
