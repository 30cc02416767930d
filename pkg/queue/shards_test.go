package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

func TestShardOfIsStableAndSpreads(t *testing.T) {
	// The mapping decides which replica loads a queue: every replica (of
	// any version in a rolling upgrade) must compute the same one.
	for name, want := range map[string]int{"orders": 12, "a": 12, "shard-q00": 1, "ha-orders": 4} {
		if got := ShardOf(name, 16); got != want {
			t.Errorf("ShardOf(%q, 16) = %d, want %d (fnv32a mod 16)", name, got, want)
		}
	}
	count := make([]int, 16)
	for i := range 1600 {
		count[ShardOf(fmt.Sprintf("queue-%d", i), 16)]++
	}
	for s, n := range count {
		if n < 50 || n > 150 {
			t.Errorf("shard %d has %d of 1600 queues, want about 100", s, n)
		}
	}
}

func TestRendezvousMovesOnlyTheLeaversShards(t *testing.T) {
	three := newMembership("http://a", time.Second, time.Minute)
	three.setMembers([]string{"http://a", "http://b", "http://c"})
	two := newMembership("http://a", time.Second, time.Minute)
	two.setMembers([]string{"http://a", "http://b"})
	owned := map[string]int{}
	for s := range 64 {
		p3, _ := three.preferred(s)
		p2, _ := two.preferred(s)
		owned[p3]++
		if p3 != "http://c" && p2 != p3 {
			t.Errorf("shard %d moved from %s to %s when only c left", s, p3, p2)
		}
	}
	for _, id := range []string{"http://a", "http://b", "http://c"} {
		if owned[id] < 10 {
			t.Errorf("%s ranks first for %d of 64 shards, want about a third", id, owned[id])
		}
	}
}

// startReplica runs a broker as one of several replicas (real time, an
// advertised URL) until the test ends or stop is called.
func startReplica(t *testing.T, url string) (b *Broker, stop func()) {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("ORCH_TEST_LOG") != "" {
		out = os.Stderr
	}
	b = New(testStore, Options{AdvertiseURL: url, HandoffDelay: 300 * time.Millisecond, RefreshInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(out, nil)).With("replica", url)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return b, stop
}

func shardsOwned(b *Broker) int {
	n := 0
	for s := range b.opts.Shards {
		if b.ownsShard(s) {
			n++
		}
	}
	return n
}

// settled says whether every shard is held by the replica that ranks first
// for it and by nobody else: no hand-off is still to come, so a queue's
// owner stays put (a split where each replica owns some can still be
// mid-hand-off, and a shard moving under the test fails it).
func settled(t *testing.T, a, b *Broker) bool {
	t.Helper()
	leaders, err := testStore.ShardLeaders(context.Background(), ShardGroup)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var ids []string
	for _, id := range leaders {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) != 2 {
		return false
	}
	for s := range a.opts.Shards {
		first := ids[0]
		if r0, r1 := rank(s, ids[0]), rank(s, ids[1]); r1 > r0 || (r1 == r0 && ids[1] < ids[0]) {
			first = ids[1]
		}
		if leaders[s] != first || a.ownsShard(s) == b.ownsShard(s) {
			return false
		}
	}
	return true
}

// TestShardsSpreadForwardAndMoveOnLoss runs two replicas on one etcd: the
// shards spread over both, a replica answers for another's queue with the
// owner's URL, a message delivered from the other replica goes through the
// shard's inbox, dead letters cross shards, and when one replica stops the
// other serves every queue with every acknowledged message.
func TestShardsSpreadForwardAndMoveOnLoss(t *testing.T) {
	ctx := context.Background()
	a, _ := startReplica(t, "http://replica-a.test")
	b, stopB := startReplica(t, "http://replica-b.test")
	eventually(t, "every shard owned once, by the replica that ranks first for it", func() bool {
		na, nb := shardsOwned(a), shardsOwned(b)
		if os.Getenv("ORCH_TEST_LOG") != "" {
			t.Logf("a owns %d, b owns %d", na, nb)
		}
		return na+nb == 16 && na > 0 && nb > 0 && settled(t, a, b)
	})
	// A queue in one of b's shards, and a dead-letter queue in one of a's.
	var onB, onA string
	for i := 0; onA == "" || onB == ""; i++ {
		n := fmt.Sprintf("spread-%d", i)
		if b.OwnsQueue(n) && onB == "" {
			onB = n
		} else if a.OwnsQueue(n) && onA == "" {
			onA = n
		}
	}
	t.Cleanup(func() {
		for _, n := range []string{onB, onA} {
			for _, r := range []*Broker{a, b} {
				if r.OwnsQueue(n) {
					_ = r.DeleteQueue(ctx, n)
				}
			}
		}
	})
	if _, err := a.CreateQueue(ctx, onB, nil, nil); !errors.Is(err, ErrNotOwner) || OwnerURLOf(err) != "http://replica-b.test" {
		t.Fatalf("CreateQueue(%s) on a = %v, want not-owner naming http://replica-b.test", onB, err)
	}
	mustCreate(t, a, onA, nil)
	policy := `{"deadLetterTargetArn":"` + model.QueueArn(b.Region(), onA) + `","maxReceiveCount":1}`
	mustCreate(t, b, onB, map[string]string{model.QARedrivePolicy: policy, model.QAVisibilityTimeout: "1"})

	// Deliver from the replica that does not own the queue: inbox.
	if _, err := a.Deliver(ctx, onB, SendEntry{Body: "via-inbox"}); err != nil {
		t.Fatalf("Deliver from a to %s: %v", onB, err)
	}
	var got []ReceivedMessage
	eventually(t, "the inbox message received on its owner", func() bool {
		got = receive(t, b, onB, 1, 1)
		return len(got) == 1
	})
	if got[0].Body != "via-inbox" {
		t.Fatalf("received %q, want via-inbox", got[0].Body)
	}
	// Received once; the next receive after the visibility timeout moves
	// it to the dead-letter queue in a's shard.
	eventually(t, "the message dead-lettered into the other shard", func() bool {
		_ = receive(t, b, onB, 1, 1)
		got = receive(t, a, onA, 1, 30)
		return len(got) == 1
	})
	if src := got[0].Attributes["DeadLetterQueueSourceArn"]; src != model.QueueArn(b.Region(), onB) {
		t.Fatalf("DeadLetterQueueSourceArn = %q", src)
	}

	// Acknowledged sends to b's queue survive b's departure.
	for i := range 5 {
		mustSend(t, b, onB, SendEntry{Body: fmt.Sprintf("keep-%d", i)})
	}
	stopB()
	eventually(t, "a owns every shard", func() bool { return shardsOwned(a) == 16 })
	seen := map[string]bool{}
	eventually(t, "every acknowledged message on a", func() bool {
		for _, m := range receive(t, a, onB, 10, 30) {
			seen[m.Body] = true
		}
		return len(seen) == 5
	})
}

// TestReplicaOfAnOlderVersionOwnsEverything: while a server of a version
// before the shards holds the single "queues" election (a rolling
// upgrade), this version releases its shards and names that server as
// every queue's owner; once it is gone, the shards are taken again.
func TestReplicaOfAnOlderVersionOwnsEverything(t *testing.T) {
	ctx := context.Background()
	a, _ := startReplica(t, "http://replica-new.test")
	eventually(t, "every shard owned", func() bool { return shardsOwned(a) == 16 })
	old, err := testStore.Campaign(ctx, legacyElection, "http://replica-old.test", 5)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "every shard released to the old version's owner", func() bool { return shardsOwned(a) == 0 })
	if _, err := a.CreateQueue(ctx, "during-upgrade", nil, nil); OwnerURLOf(err) != "http://replica-old.test" {
		t.Fatalf("CreateQueue during the upgrade = %v, want not-owner naming http://replica-old.test", err)
	}
	if err := old.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every shard owned again", func() bool { return shardsOwned(a) == 16 })
}

// TestReceiveWaitingWhenTheShardMovesAnswersEmpty: a long poll that is
// waiting when its owner lets the shard go (a hand-off, a failover, a
// shutdown) answers with no messages, not QueueDoesNotExist: the queue
// lives on with the next owner, and SDK consumers treat
// NonExistentQueue as fatal.
func TestReceiveWaitingWhenTheShardMovesAnswersEmpty(t *testing.T) {
	ctx := context.Background()
	a, stopA := startReplica(t, "http://replica-moving.test")
	eventually(t, "a owns every shard", func() bool { return shardsOwned(a) == 16 })
	name := "moving-long-poll"
	mustCreate(t, a, name, nil)
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		ms, err := a.ReceiveMessage(ctx, name, ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: intp(20)})
		got <- result{len(ms), err}
	}()
	eventually(t, "the receive waits in the queue", func() bool {
		_, q, err := a.lookup(ctx, name)
		if err != nil {
			return false
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.waiters) == 1
	})
	stopA()
	select {
	case r := <-got:
		if r.err != nil || r.n != 0 {
			t.Fatalf("the waiting receive answered %d messages, %v; want an empty answer", r.n, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the waiting receive did not return when its owner stopped")
	}
	// The queue lives on: the next owner serves it (and the test removes it).
	b, _ := startReplica(t, "http://replica-next.test")
	eventually(t, "the next replica owns the queue", func() bool { return b.OwnsQueue(name) })
	if err := b.DeleteQueue(ctx, name); err != nil {
		t.Fatalf("DeleteQueue on the next owner: %v", err)
	}
}
