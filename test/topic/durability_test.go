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

// TestKill9Durability: publishers publish to a topic with three queue
// subscriptions; the server is killed with SIGKILL mid-stream and
// restarted on the same data. Every publish that returned success reaches
// every queue.
func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server process")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	srv := startServer(t, dir, addr)
	ctx := ctxT(t, 3*time.Minute)
	sn, sq := srv.sns(), srv.sqs()
	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	topicArn := ct.TopicArn
	names := []string{"dur-a", "dur-b", "dur-raw"}
	urls := map[string]string{}
	for _, n := range names {
		q := createQueue(t, ctx, sq, n, nil)
		urls[n] = q.url
		in := &awssns.SubscribeInput{TopicArn: topicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn)}
		if n == "dur-raw" {
			in.Attributes = map[string]string{"RawMessageDelivery": "true"}
		}
		if _, err := sn.Subscribe(ctx, in); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	var next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%2 == 0 {
					body := fmt.Sprintf("p-%d", next.Add(1))
					if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: topicArn, Message: aws.String(body)}); err == nil {
						mu.Lock()
						acked[body] = true
						mu.Unlock()
					}
					continue
				}
				es := make([]snstypes.PublishBatchRequestEntry, 10)
				for j := range es {
					es[j] = snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), Message: aws.String(fmt.Sprintf("p-%d", next.Add(1)))}
				}
				r, err := sn.PublishBatch(ctx, &awssns.PublishBatchInput{TopicArn: topicArn, PublishBatchRequestEntries: es})
				if err != nil {
					continue // the server is gone: unacknowledged publishes may or may not arrive
				}
				mu.Lock()
				for _, s := range r.Successful {
					j, _ := strconv.Atoi(*s.Id)
					acked[*es[j].Message] = true
				}
				mu.Unlock()
			}
		}()
	}
	// Kill as soon as 100 publishes are acknowledged (deliveries and
	// commits still under way), however slow the machine is: a fixed
	// window saw too little traffic under load.
	const minAcked = 100
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	deadline := time.Now().Add(90 * time.Second)
	for count() < minAcked && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill()
	close(stop)
	wg.Wait()
	nAcked := count()
	if nAcked < minAcked {
		t.Fatalf("too little traffic before the kill: %d publishes acknowledged in 90s, want %d", nAcked, minAcked)
	}

	srv2 := startServer(t, dir, addr)
	sq2 := srv2.sqs()
	for _, n := range names {
		got := drain(t, sq2, urls[n], n != "dur-raw", acked, 90*time.Second)
		lost := 0
		for b := range acked {
			if !got[b] {
				lost++
			}
		}
		t.Logf("%s: %d acknowledged publishes, %d distinct messages received after the restart", n, nAcked, len(got))
		if lost > 0 {
			t.Errorf("%s: %d of %d acknowledged publishes never arrived", n, lost, nAcked)
		}
	}
}

// drain receives and deletes a queue's messages with four receivers until
// every body in want has arrived and the queue stays empty, or the deadline
// passes; envelope bodies are unwrapped to their Message.
func drain(t *testing.T, sq *awssqs.Client, url string, envelope bool, want map[string]bool, within time.Duration) map[string]bool {
	t.Helper()
	ctx := ctxT(t, within+10*time.Second)
	var mu sync.Mutex
	got := map[string]bool{}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for b := range want {
			if !got[b] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(within)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for idle := 0; idle < 2 && time.Now().Before(deadline); {
				r, err := sq.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					t.Error(err)
					return
				}
				if len(r.Messages) == 0 {
					if done() {
						idle++
					}
					continue
				}
				var del []sqstypes.DeleteMessageBatchRequestEntry
				for i, m := range r.Messages {
					body := *m.Body
					if envelope {
						var env struct{ Message string }
						if err := json.Unmarshal([]byte(body), &env); err != nil {
							t.Errorf("not an envelope: %s", body)
							return
						}
						body = env.Message
					}
					mu.Lock()
					got[body] = true
					mu.Unlock()
					del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				if _, err := sq.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return got
}
