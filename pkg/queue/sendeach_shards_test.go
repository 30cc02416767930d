package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/store"
)

// TestSendEachEarlyShardsDoNotWaitForEachOther: a fan-out's commits on
// different shards run side by side, as SendEach's do: while one shard's
// commit is held (a slow disk, a slow etcd answer), the FIFO queue of
// another shard, which shows its entries only once committed, gets its
// message, and the held shard's message comes once released.
func TestSendEachEarlyShardsDoNotWaitForEachOther(t *testing.T) {
	b, _ := newTestBroker(t)
	held := "held.fifo"
	other := ""
	for i := range 1000 {
		if n := fmt.Sprintf("other-%d.fifo", i); b.shardOf(n) != b.shardOf(held) {
			other = n
			break
		}
	}
	if other == "" {
		t.Fatal("no queue name on another shard")
	}
	fifo := map[string]string{"FifoQueue": "true"}
	mustCreate(t, b, held, fifo)
	mustCreate(t, b, other, fifo)

	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	hook := func(ops []store.QueueOp, write func() error) error {
		for _, op := range ops {
			if op.Message != nil && op.Message.Body == "to-held" {
				entered <- struct{}{}
				<-release
			}
		}
		return write()
	}
	commitHook.Store(&hook)
	defer commitHook.Store(nil)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	ctx := context.Background()
	wait := b.SendEachEarly(ctx, []QueueEntry{
		{Queue: held, SendEntry: SendEntry{Body: "to-held", GroupID: "g", DeduplicationID: "1"}},
		{Queue: other, SendEntry: SendEntry{Body: "to-other", GroupID: "g", DeduplicationID: "2"}},
	})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the held shard's commit never began")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := bodies(receive(t, b, other, 10, 30)); len(got) == 1 && got[0] == "to-other" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not get its message while %s's commit was held: the shards' commits ran one after the other", other, held)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	released = true
	if errs := wait(); errs != nil {
		t.Fatalf("errs = %v", errs)
	}
	if got := bodies(receive(t, b, held, 10, 30)); len(got) != 1 || got[0] != "to-held" {
		t.Fatalf("%s holds %v after the release, want [to-held]", held, got)
	}
}
