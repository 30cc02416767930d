package queue

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestPublishBacklogs: the owner publishes the backlog (visible plus
// in-flight) of the queues it is told to follow, and only those; a send to
// a followed queue at 0 is published at once (the wake-from-zero signal
// for an autoscaler on another replica), decreases follow within the
// tick, and a deleted queue's backlog is removed.
func TestPublishBacklogs(t *testing.T) {
	b, _ := newTestBroker(t, func(b *Broker) {
		b.PublishBacklogs(func(q string) bool { return q == "pub-followed" })
	})
	mustCreate(t, b, "pub-followed", nil)
	mustCreate(t, b, "pub-other", nil)
	c := testStore.QueueBacklogCache()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-c.Ready()
	backlog := func(q string) int {
		if v := c.Get(q); v != nil {
			return v.Backlog
		}
		return -1
	}
	eventually(t, "the followed queue's backlog 0 published", func() bool { return backlog("pub-followed") == 0 })

	start := time.Now()
	mustSend(t, b, "pub-followed", SendEntry{Body: "one"})
	eventually(t, "backlog 1 after the first send", func() bool { return backlog("pub-followed") == 1 })
	t.Logf("first send to published backlog: %s", time.Since(start).Round(time.Millisecond))
	mustSend(t, b, "pub-followed", SendEntry{Body: "two"})
	mustSend(t, b, "pub-other", SendEntry{Body: "x"})
	eventually(t, "backlog 2", func() bool { return backlog("pub-followed") == 2 })

	// In flight still counts; a delete lowers it (published by the tick).
	ms := receive(t, b, "pub-followed", 1, 30)
	if len(ms) != 1 {
		t.Fatalf("received %d messages, want 1", len(ms))
	}
	if err := b.DeleteMessage(context.Background(), "pub-followed", ms[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	eventually(t, "backlog 1 after a delete", func() bool { return backlog("pub-followed") == 1 })
	if n := backlog("pub-other"); n != -1 {
		t.Fatalf("pub-other, which no policy follows, was published (backlog %d)", n)
	}

	if err := b.DeleteQueue(context.Background(), "pub-followed"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a deleted queue's backlog removed", func() bool { return c.Get("pub-followed") == nil })
}
