package queue_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestKill9Durability: producers send while consumers delete; the server
// is killed with SIGKILL mid-stream and restarted on the same data. Every
// send that returned success is delivered after the restart unless it was
// deleted before, and no message whose delete returned success comes back.
// It runs on both message stores: the local segment logs (the default
// with the embedded etcd) and etcd.
func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server process")
	}
	for _, store := range []string{"local", "etcd"} {
		t.Run(store, func(t *testing.T) {
			dir, addr := t.TempDir(), freeAddr(t)
			kill9Durability(t, func() sqsServer { return startServer(t, dir, addr, "--queue-store", store) })
		})
	}
}

// sqsServer is a server process the durability test can talk to and kill.
type sqsServer interface {
	client() *awssqs.Client
	kill()
}

// kill9Durability runs the test against the servers start starts (on the
// same data dir and address each time).
func kill9Durability(t *testing.T, start func() sqsServer) {
	srv := start()
	cli := srv.client()
	ctx := ctxT(t, 3*time.Minute)
	out, err := cli.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	qurl := out.QueueUrl

	var mu sync.Mutex
	acked := map[string]bool{}     // bodies whose send returned success
	deleted := map[string]bool{}   // bodies whose delete returned success
	uncertain := map[string]bool{} // bodies whose delete failed: they may or may not be gone
	var next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				es := make([]types.SendMessageBatchRequestEntry, 10)
				for i := range es {
					es[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(fmt.Sprintf("m-%d", next.Add(1)))}
				}
				r, err := cli.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: qurl, Entries: es})
				if err != nil {
					continue // the server is gone; unacknowledged sends may or may not be stored
				}
				mu.Lock()
				for _, s := range r.Successful {
					i, _ := strconv.Atoi(*s.Id)
					acked[*es[i].MessageBody] = true
				}
				mu.Unlock()
			}
		}()
	}
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := cli.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: qurl, MaxNumberOfMessages: 10})
				if err != nil || len(r.Messages) == 0 {
					continue
				}
				// Delete only every other message so some survive to be checked.
				var es []types.DeleteMessageBatchRequestEntry
				bodies := map[string]string{}
				for i, m := range r.Messages {
					if i%2 == 0 {
						id := strconv.Itoa(i)
						es = append(es, types.DeleteMessageBatchRequestEntry{Id: &id, ReceiptHandle: m.ReceiptHandle})
						bodies[id] = *m.Body
					}
				}
				d, err := cli.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: qurl, Entries: es})
				if err != nil {
					mu.Lock()
					for _, b := range bodies {
						uncertain[b] = true
					}
					mu.Unlock()
					continue
				}
				mu.Lock()
				for _, s := range d.Successful {
					deleted[bodies[*s.Id]] = true
				}
				mu.Unlock()
			}
		}()
	}
	// Kill once enough traffic went through (how long that takes depends
	// on the machine's load), with clients still sending and deleting.
	traffic := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), len(deleted)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		nAcked, nDeleted := traffic()
		if nAcked >= 100 && nDeleted >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("too little traffic within a minute: %d acked, %d deleted; want 100 and 10", nAcked, nDeleted)
		}
	}
	srv.kill() // mid-stream
	close(stop)
	wg.Wait()
	nAcked, nDeleted := traffic()

	srv2 := start()
	cli2 := srv2.client()
	// Drain until every message that must survive came, and then three
	// empty receives in a row. The visibility timeout is short of the
	// deadline: a receive whose answer never arrived (the SDK retries one
	// whose response it could not read, aws/aws-sdk-go-v2#2737) leaves its
	// batch in flight for that long, as in SQS, and it must come back
	// rather than count as lost.
	got := map[string]bool{}
	missing := func() int {
		n := 0
		for b := range acked {
			if !deleted[b] && !uncertain[b] && !got[b] {
				n++
			}
		}
		return n
	}
	for idle, deadline := 0, time.Now().Add(90*time.Second); (idle < 3 || missing() > 0) && time.Now().Before(deadline); {
		r, err := cli2.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: qurl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			idle++
			continue
		}
		idle = 0
		for _, m := range r.Messages {
			got[*m.Body] = true
		}
	}
	var lost, resurrected int
	for b := range acked {
		if !deleted[b] && !uncertain[b] && !got[b] {
			lost++
		}
	}
	for b := range deleted {
		if got[b] {
			resurrected++
		}
	}
	t.Logf("before kill: %d sends acknowledged, %d deletes acknowledged; after restart: %d messages received", nAcked, nDeleted, len(got))
	if lost > 0 || resurrected > 0 {
		t.Fatalf("%d acknowledged messages lost, %d deleted messages came back", lost, resurrected)
	}
}
