package queue

import (
	"context"
	"testing"

	"github.com/orch-project/orch/pkg/store"
)

func dedupOp(q, id string) store.QueueOp {
	return store.QueueOp{Kind: store.QueuePutDedup, QueueID: q, ID: id, DedupMessageID: "m-" + id, DedupExpiresMs: 1}
}

// TestCommitterStops: writes are durable when commit returns; after stop,
// commit fails at once with KindUnavailable instead of waiting forever.
func TestCommitterStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := newCommitter(testStore, nil, nil, nil)
	c.start(ctx, 2)
	if err := c.commit(context.Background(), dedupOp("committer-q", "a"), dedupOp("committer-q", "b")); err != nil {
		t.Fatalf("commit: %v", err)
	}
	ds, err := testStore.LoadQueueDedup(context.Background(), "committer-q")
	if err != nil || len(ds) != 2 {
		t.Fatalf("stored dedup records = %d, %v; want 2, nil", len(ds), err)
	}
	cancel()
	c.stop()
	if err := c.commit(context.Background(), dedupOp("committer-q", "c")); KindOf(err) != KindUnavailable {
		t.Fatalf("commit after stop = %v, want a KindUnavailable error", err)
	}
}

func TestDedupOps(t *testing.T) {
	del := func(q, id string) store.QueueOp {
		return store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: q, ID: id}
	}
	tests := []struct {
		name string
		ops  []store.QueueOp
		want []store.QueueOp
	}{
		{"nothing repeated", []store.QueueOp{del("q", "1"), del("q", "2")}, []store.QueueOp{del("q", "1"), del("q", "2")}},
		{"the last write of a key wins", []store.QueueOp{del("q", "1"), dedupOp("q", "1"), del("q", "1")}, []store.QueueOp{dedupOp("q", "1"), del("q", "1")}},
		{"same id in two queues is two keys", []store.QueueOp{del("a", "1"), del("b", "1")}, []store.QueueOp{del("a", "1"), del("b", "1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dedupOps(tc.ops)
			if len(got) != len(tc.want) {
				t.Fatalf("dedupOps = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Kind != tc.want[i].Kind || got[i].QueueID != tc.want[i].QueueID || got[i].ID != tc.want[i].ID {
					t.Fatalf("dedupOps[%d] = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
