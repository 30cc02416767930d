package topic_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIManifest applies a manifest with queues and a topic whose
// subscriptions name the queues by name, publishes with the CLI and checks
// what each queue received and what get/describe show.
func TestCLIManifest(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, freeAddr(t))
	ctx := ctxT(t, time.Minute)
	manifest := filepath.Join(dir, "news.yaml")
	if err := os.WriteFile(manifest, []byte(`kind: Queue
QueueName: coupons
---
kind: Queue
QueueName: all-news
---
kind: Topic
Name: coffee-news
Attributes:
  DisplayName: Coffee news
Tags:
  - Key: team
    Value: shop
subscriptions:
  - Protocol: sqs
    Endpoint: coupons
    Attributes:
      RawMessageDelivery: "true"
      FilterPolicy: '{"category": ["coupon"]}'
  - Protocol: sqs
    Endpoint: all-news
    Attributes:
      RawMessageDelivery: "true"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := srv.orch(t, "apply", "-f", manifest); !strings.Contains(out, "topic/coffee-news created") {
		t.Fatalf("apply:\n%s", out)
	}
	if out := srv.orch(t, "apply", "-f", manifest); !strings.Contains(out, "topic/coffee-news unchanged") {
		t.Fatalf("apply again:\n%s", out)
	}
	srv.orch(t, "topic", "publish", "coffee-news", "--message", "2 for 1", "--attribute", "category=coupon")
	srv.orch(t, "topic", "publish", "coffee-news", "--message", "beans from Kenya", "--attribute", "category=trivia")
	sq := srv.sqs()
	base := srv.url() + "/000000000000/"
	if got := receive(t, ctx, sq, base+"all-news", 2, 10*time.Second); len(got) != 2 {
		t.Fatalf("all-news received %d of 2", len(got))
	}
	got := receive(t, ctx, sq, base+"coupons", 2, 3*time.Second)
	if len(got) != 1 || *got[0].Body != "2 for 1" {
		t.Fatalf("coupons received %d messages, want only the coupon", len(got))
	}
	list := srv.orch(t, "get", "topics")
	if !strings.Contains(list, "coffee-news") || !strings.Contains(list, "standard") {
		t.Errorf("orch get topics:\n%s", list)
	}
	// A queue's copy is receivable before its commit ends and counts as
	// delivered once it has: poll the counters (with a deadline) rather
	// than expect them the moment the copies were received.
	wants := []string{"DisplayName: Coffee news", "team: shop", "arn:aws:sqs:us-east-1:000000000000:coupons",
		"1 delivered", "2 delivered"}
	var desc string
	var lacking []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		desc, lacking = srv.orch(t, "describe", "topic", "coffee-news"), nil
		for _, want := range wants {
			if !strings.Contains(desc, want) {
				lacking = append(lacking, want)
			}
		}
		if len(lacking) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range lacking {
		t.Errorf("orch describe topic lacks %q:\n%s", want, desc)
	}
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("kind: Topic\nName: bad name\nsubscriptions:\n  - Protocol: carrier-pigeon\n    Endpoint: x\n"), 0o644)
	cmd := srv.orchCmd("apply", "-f", bad)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.yaml:2:7: Name:") || !strings.Contains(string(out), "subscriptions[0].Protocol") {
		t.Errorf("applying a bad topic: err %v, output:\n%s", err, out)
	}
	// The server runs functions: a lambda subscription is taken (as SNS
	// does, whether or not the function exists yet), and a malformed
	// function ARN is refused with the field path.
	fn := filepath.Join(dir, "lambda.yaml")
	_ = os.WriteFile(fn, []byte("kind: Topic\nName: to-functions\nsubscriptions:\n  - Protocol: lambda\n    Endpoint: arn:aws:lambda:us-east-1:000000000000:function:greet\n"), 0o644)
	out, err = srv.orchCmd("apply", "-f", fn).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "topic/to-functions created") {
		t.Errorf("applying a lambda subscription: err %v, output:\n%s", err, out)
	}
	_ = os.WriteFile(fn, []byte("kind: Topic\nName: to-nowhere\nsubscriptions:\n  - Protocol: lambda\n    Endpoint: greet\n"), 0o644)
	out, err = srv.orchCmd("apply", "-f", fn).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "subscriptions[0]") {
		t.Errorf("applying a lambda subscription to a non-ARN: err %v, output:\n%s", err, out)
	}
}
