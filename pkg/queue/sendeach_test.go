package queue

import (
	"context"
	"testing"
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
