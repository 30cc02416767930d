package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
)

// The lean client against a real orch server (TLS, SigV4, the stock HTTP
// stack): every message sent is received and deleted, at batch 1 and
// batch 10, and the stock SDK client drives the same throughput code.
func TestLeanClientAgainstTheServer(t *testing.T) {
	cp := testutil.StartServer(t, testutil.WithTLS)
	creds := cp.Bootstrap
	lean, err := newLeanClient(cp.URL, "us-east-1", creds.AWSAccessKeyID, creds.AWSSecretAccessKey, cp.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := config{endpoint: cp.URL, producers: 2, consumers: 2, size: 100, duration: 700 * time.Millisecond,
		ak: creds.AWSAccessKeyID, sk: creds.AWSSecretAccessKey}
	for _, run := range []struct {
		name       string
		client     queueClient
		batch, max int
	}{
		{"lean batch 1", lean, 1, 1},
		{"lean batch 10", lean, 10, 10},
		{"lean batch 1 receive 10", lean, 1, 10},
		{"sdk batch 10", sdkClient{newClientTLS(base, cp.ClientTLS())}, 10, 10},
	} {
		t.Run(run.name, func(t *testing.T) {
			c := base
			c.batch, c.receiveMax = run.batch, run.max
			qurl, err := run.client.CreateQueue(ctx, "lean-"+strings.ReplaceAll(run.name, " ", "-"))
			if err != nil {
				t.Fatalf("CreateQueue: %v", err)
			}
			res := throughput(ctx, run.client, qurl, c)
			acked, _ := res["acked"].(int64)
			received, _ := res["received"].(int)
			if ok, _ := res["ok"].(bool); !ok || acked == 0 || int64(received) != acked || res["errors"].(int64) != 0 {
				t.Fatalf("got %v; want every acknowledged message received, no errors", res)
			}
			// Everything received was deleted: the queue is empty.
			testutil.WaitFor(t, 20*time.Second, "the queue to be empty", func() (bool, string) {
				msgs, err := run.client.Receive(ctx, qurl, 10, 0)
				if err != nil {
					return false, err.Error()
				}
				return len(msgs) == 0, "still receiving messages that were deleted"
			})
			if err := run.client.DeleteQueue(ctx, qurl); err != nil {
				t.Fatalf("DeleteQueue: %v", err)
			}
		})
	}

	// A wrong secret is refused, and nothing is sent.
	forged, _ := newLeanClient(cp.URL, "us-east-1", creds.AWSAccessKeyID, "not-the-secret", cp.ClientTLS())
	qurl, err := lean.CreateQueue(ctx, "lean-forged")
	if err != nil {
		t.Fatal(err)
	}
	var se *sqsError
	if _, err := forged.Send(ctx, qurl, []string{"hello"}, false); !errors.As(err, &se) || se.Status != 403 || !strings.Contains(se.Type, "SignatureDoesNotMatch") {
		t.Fatalf("send with a wrong secret: got %v, want 403 SignatureDoesNotMatch", err)
	}
	unknown, _ := newLeanClient(cp.URL, "us-east-1", "AKIANOSUCHKEY0000000", creds.AWSSecretAccessKey, cp.ClientTLS())
	if _, err := unknown.Receive(ctx, qurl, 1, 0); !errors.As(err, &se) || se.Status != 403 {
		t.Fatalf("receive with an unknown key: got %v, want 403", err)
	}
	if msgs, err := lean.Receive(ctx, qurl, 10, 0); err != nil || len(msgs) != 0 {
		t.Fatalf("the queue after the forged send: %d messages, %v; want none", len(msgs), err)
	}
}

// The lean client checks MD5s as the SDK does: an answer whose digest does
// not match the body is an error, not a counted message.
func TestLeanClientChecksMD5(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSQS.SendMessage":
			w.Write([]byte(`{"MessageId":"m1","MD5OfMessageBody":"00000000000000000000000000000000"}`))
		case "AmazonSQS.SendMessageBatch":
			w.Write([]byte(`{"Successful":[{"Id":"0","MessageId":"m1","MD5OfMessageBody":"` + md5Hex("a") + `"},{"Id":"1","MessageId":"m2","MD5OfMessageBody":"` + md5Hex("a") + `"}]}`))
		case "AmazonSQS.ReceiveMessage":
			w.Write([]byte(`{"Messages":[{"MessageId":"m1","ReceiptHandle":"h","MD5OfBody":"` + md5Hex("other") + `","Body":"tampered"}]}`))
		}
	}))
	defer srv.Close()
	c, err := newLeanClient(srv.URL, "us-east-1", "AKID", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n, err := c.Send(ctx, "q", []string{"hello"}, false); err == nil || n != 0 {
		t.Errorf("SendMessage with a wrong MD5: %d acked, err %v; want an error", n, err)
	}
	if n, err := c.Send(ctx, "q", []string{"a", "b"}, true); err == nil || n != 1 {
		t.Errorf("SendMessageBatch, second entry's MD5 wrong: %d acked, err %v; want 1 and an error", n, err)
	}
	if msgs, err := c.Receive(ctx, "q", 1, 0); err == nil {
		t.Errorf("ReceiveMessage with a wrong MD5: got %v, want an error", msgs)
	}
}
