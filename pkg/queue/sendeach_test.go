package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/orch-project/orch/pkg/store"
)

// TestSendEach: one call sends to several queues in one commit per shard
// (each shard's writes are guarded by its own election); every
// entry that was sent is receivable when it returns, in order per queue,
// and the ones that could not be sent fail one by one with the reason.
func TestSendEach(t *testing.T) {
	b, _ := newTestBroker(t)
	mustCreate(t, b, "each-a", nil)
	mustCreate(t, b, "each-b", nil)
	mustCreate(t, b, "each-c.fifo", map[string]string{"FifoQueue": "true"})
	commits := commitN.Load()
	errs := b.SendEach(context.Background(), []QueueEntry{
		{Queue: "each-a", SendEntry: SendEntry{Body: "a1"}},
		{Queue: "each-b", SendEntry: SendEntry{Body: "b1"}},
		{Queue: "each-missing", SendEntry: SendEntry{Body: "x"}},
		{Queue: "each-a", SendEntry: SendEntry{Body: "a2"}},
		{Queue: "each-c.fifo", SendEntry: SendEntry{Body: "no group id"}},
		{Queue: "each-c.fifo", SendEntry: SendEntry{Body: "c1", GroupID: "g", DeduplicationID: "1"}},
		{Queue: "each-c.fifo", SendEntry: SendEntry{Body: "c2", GroupID: "g", DeduplicationID: "2"}},
	})
	if len(errs) != 7 {
		t.Fatalf("errs = %v, want one per entry (two entries fail)", errs)
	}
	for i, want := range []Kind{0, 0, KindNoSuchQueue, 0, KindMissingParameter, 0, 0} {
		if want == 0 && errs[i] != nil || want != 0 && KindOf(errs[i]) != want {
			t.Errorf("entry %d: err = %v, want kind %v", i, errs[i], want)
		}
	}
	// The broker's clock is fake, so nothing else commits meanwhile.
	shards := map[int]bool{}
	for _, q := range []string{"each-a", "each-b", "each-c.fifo"} {
		shards[b.shardOf(q)] = true
	}
	if n := commitN.Load() - commits; n != int64(len(shards)) {
		t.Errorf("%d commits, want %d: one per shard of the queues", n, len(shards))
	}
	for q, want := range map[string][]string{"each-a": {"a1", "a2"}, "each-b": {"b1"}, "each-c.fifo": {"c1", "c2"}} {
		if got := bodies(receive(t, b, q, 10, 30)); !equal(got, want) {
			t.Errorf("%s holds %v, want %v", q, got, want)
		}
	}
	if errs := b.SendEach(context.Background(), []QueueEntry{{Queue: "each-b", SendEntry: SendEntry{Body: "b2"}}}); errs != nil {
		t.Fatalf("errs = %v, want nil when every entry was sent", errs)
	}
}

// TestSendEachEarly: a standard queue's entries are receivable as soon as
// SendEachEarly returns, before its commits end; a consumer's delete made
// right then is not overtaken by the send's commit (after a restart on
// the same log the deleted message stays deleted, the other is back);
// FIFO entries and failures are reported by wait as SendEach reports them.
// Both stores: the local log, and etcd (no log directory), whose ordering
// of the message's put and the delete comes from the same pipeline.
func TestSendEachEarly(t *testing.T) {
	t.Run("local", func(t *testing.T) { testSendEachEarly(t, filepath.Join(t.TempDir(), "queues")) })
	t.Run("etcd", func(t *testing.T) { testSendEachEarly(t, "") })
}

func testSendEachEarly(t *testing.T, dir string) {
	ctx := context.Background()
	b, stop := startBroker(t, dir)
	const a, c = "early-a", "early-c.fifo"
	mustCreate(t, b, a, nil)
	mustCreate(t, b, c, map[string]string{"FifoQueue": "true"})
	wait := b.SendEachEarly(ctx, []QueueEntry{
		{Queue: a, SendEntry: SendEntry{Body: "a1"}},
		{Queue: "early-missing", SendEntry: SendEntry{Body: "x"}},
		{Queue: a, SendEntry: SendEntry{Body: "a2"}},
		{Queue: c, SendEntry: SendEntry{Body: "c1", GroupID: "g", DeduplicationID: "1"}},
	})
	zero, vis := 0, 60
	ms, err := b.ReceiveMessage(ctx, a, ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &zero, VisibilityTimeout: &vis})
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(ms); !equal(got, []string{"a1", "a2"}) {
		t.Fatalf("%s holds %v before the commits were waited for, want [a1 a2]", a, got)
	}
	if err := b.DeleteMessage(ctx, a, ms[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	errs := wait()
	if len(errs) != 4 {
		t.Fatalf("errs = %v, want one per entry (one fails)", errs)
	}
	for i, want := range []Kind{0, KindNoSuchQueue, 0, 0} {
		if want == 0 && errs[i] != nil || want != 0 && KindOf(errs[i]) != want {
			t.Errorf("entry %d: err = %v, want kind %v", i, errs[i], want)
		}
	}
	if got := drain(t, b, c); !equal(got, []string{"c1"}) {
		t.Errorf("%s holds %v, want [c1]", c, got)
	}
	stop()

	b, _ = startBroker(t, dir)
	defer deleteQueues(t, b, a, c)
	if got := drain(t, b, a); !equal(got, []string{"a2"}) {
		t.Errorf("after a restart %s holds %v, want [a2] (a1 was deleted, a2 was not)", a, got)
	}
	if errs := b.SendEachEarly(ctx, []QueueEntry{{Queue: a, SendEntry: SendEntry{Body: "a3"}}})(); errs != nil {
		t.Fatalf("errs = %v, want nil when every entry was sent", errs)
	}
}

// TestSendEachEarlyFailedCommitStaysDeleted: an early copy whose commit
// reports failure is taken back (the caller sends it again from its own
// copy), but the failure may be only the answer's: the write can have
// landed. A consumer that received the copy meanwhile and deletes it
// afterwards is told it is deleted; after a restart it must not come back.
func TestSendEachEarlyFailedCommitStaysDeleted(t *testing.T) {
	t.Run("local", func(t *testing.T) { testEarlyFailedCommit(t, filepath.Join(t.TempDir(), "queues")) })
	t.Run("etcd", func(t *testing.T) { testEarlyFailedCommit(t, "") })
}

func testEarlyFailedCommit(t *testing.T, dir string) {
	ctx := context.Background()
	b, stop := startBroker(t, dir)
	const a = "early-lost-answer"
	mustCreate(t, b, a, nil)
	release := make(chan struct{})
	hook := func(ops []store.QueueOp, write func() error) error {
		hit := false
		for _, op := range ops {
			hit = hit || op.Kind == store.QueuePutMessage && op.Message != nil && op.Message.Body == "m1"
		}
		if !hit {
			return write()
		}
		<-release
		if err := write(); err != nil {
			return err
		}
		return errors.New("injected: the write landed, its answer was lost")
	}
	commitHook.Store(&hook)
	defer commitHook.Store(nil)

	wait := b.SendEachEarly(ctx, []QueueEntry{{Queue: a, SendEntry: SendEntry{Body: "m1"}}})
	zero, vis := 0, 60
	ms, err := b.ReceiveMessage(ctx, a, ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &zero, VisibilityTimeout: &vis})
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(ms); !equal(got, []string{"m1"}) {
		t.Fatalf("%s holds %v before its commit ended, want [m1]", a, got)
	}
	close(release)
	if errs := wait(); len(errs) != 1 || errs[0] == nil {
		t.Fatalf("errs = %v, want the entry's commit failure", errs)
	}
	if err := b.DeleteMessage(ctx, a, ms[0].ReceiptHandle); err != nil {
		t.Fatalf("deleting the received copy: %v", err)
	}
	commitHook.Store(nil)
	stop()

	b, _ = startBroker(t, dir)
	defer deleteQueues(t, b, a)
	if got := drain(t, b, a); len(got) != 0 {
		t.Errorf("after a restart %s holds %v: a message whose delete was acknowledged came back", a, got)
	}
}
