package awsproto

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Unaudited skips the audit note only for JSON data-plane calls; every
// call that may be recorded (writes, unknown targets, query-protocol
// calls, whose action is in the body) keeps its note.
func TestUnaudited(t *testing.T) {
	for target, want := range map[string]bool{
		"AmazonSQS.SendMessage": true, "AmazonSQS.SendMessageBatch": true, "AmazonSQS.ReceiveMessage": true,
		"AmazonSQS.DeleteMessage": true, "AmazonSQS.DeleteMessageBatch": true,
		"AmazonSQS.ChangeMessageVisibility": true, "AmazonSQS.ChangeMessageVisibilityBatch": true,
		"AmazonSQS.CreateQueue": false, "AmazonSQS.DeleteQueue": false, "AmazonSQS.PurgeQueue": false,
		"AmazonSQS.SetQueueAttributes": false, "AmazonSQS.Unknown": false, "": false,
		"AmazonSQS.sendmessage": false, "OtherService.SendMessage": false,
	} {
		r := httptest.NewRequest("POST", "/", nil)
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
		}
		if got := Unaudited(r); got != want {
			t.Errorf("Unaudited(X-Amz-Target %q) = %v, want %v", target, got, want)
		}
		// Whatever Unaudited says, Mutating must agree that it is not
		// recorded: skipping the note never loses an audit entry.
		if want && Mutating("sqs:"+strings.TrimPrefix(target, "AmazonSQS.")) {
			t.Errorf("%s is skipped but Mutating says it is recorded", target)
		}
	}
	q := httptest.NewRequest("POST", "/", strings.NewReader("Action=SendMessage"))
	q.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if Unaudited(q) {
		t.Error("a query-protocol call was skipped before its action was read")
	}
}

// The limiter's fast path takes free bytes without waiting; a waiter is
// woken by a release, and one whose context ends gives up.
func TestByteLimiter(t *testing.T) {
	l := NewByteLimiter(100)
	if !l.TryAcquire(60) || l.TryAcquire(60) {
		t.Fatal("TryAcquire: want 60 then not another 60 of 100")
	}
	got := make(chan bool, 1)
	go func() { got <- l.Acquire(context.Background(), 60) }()
	// The waiter is registered before the release, or it finds the bytes
	// free: either way it must get them.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		w := l.waiters
		l.mu.Unlock()
		if w == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	l.Release(60)
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("Acquire after a release: false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a release did not wake the waiter")
	}
	if l.InUse() != 60 {
		t.Fatalf("in use %d, want 60", l.InUse())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if l.Acquire(ctx, 50) {
		t.Fatal("Acquire of 50 with 40 free returned true")
	}
	l.mu.Lock()
	w := l.waiters
	l.mu.Unlock()
	if w != 0 {
		t.Fatalf("waiters after a timeout: %d, want 0", w)
	}
}

// ReadBody with a Content-Length reads exactly that many bytes, and a body
// cut short is an error, not a short message.
func TestReadBodyKnownLength(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	b, err := ReadBody(r, 1<<20)
	if err != nil || string(b) != `{"a":1}` {
		t.Fatalf("got %q, %v", b, err)
	}
	short := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	short.ContentLength = 20
	if _, err := ReadBody(short, 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a body shorter than its Content-Length: got %v, want io.ErrUnexpectedEOF", err)
	}
}
