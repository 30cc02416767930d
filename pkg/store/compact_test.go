package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCompactionKeepsAMinuteOfHistoryAndDefragments drives compactOnce with
// a clock: revisions younger than historyKept stay readable, older ones are
// compacted away, and once most of the file is free it shrinks.
func TestCompactionKeepsAMinuteOfHistoryAndDefragments(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	old := defragMinFree
	defragMinFree = 1 << 20
	t.Cleanup(func() { defragMinFree = old })

	// Queue-like churn: 4 MiB of values created, then deleted.
	val := strings.Repeat("x", 4096)
	for i := range 1024 {
		if _, err := st.cli.Put(ctx, fmt.Sprintf("/orch/test/%04d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	del, err := st.cli.Delete(ctx, "/orch/test/", clientv3WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	churnRev := del.Header.Revision
	before, err := st.cli.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	var marks []revMark
	var compacted int64
	var lastDefrag time.Time
	marks, compacted, lastDefrag = st.compactOnce(ctx, t0, marks, compacted, lastDefrag)
	if compacted != 0 {
		t.Fatalf("compacted to %d at once; want nothing compacted before a minute has passed", compacted)
	}
	if _, err := st.cli.Get(ctx, "/orch/test/0001", clientv3WithRev(churnRev-1)); err != nil {
		t.Fatalf("history younger than a minute is gone: %v", err)
	}
	put, err := st.cli.Put(ctx, "/orch/test/later", "v")
	if err != nil {
		t.Fatal(err)
	}
	_, compacted, _ = st.compactOnce(ctx, t0.Add(historyKept), marks, compacted, lastDefrag)
	if compacted != churnRev {
		t.Fatalf("compacted to %d after a minute; want %d (the revision recorded a minute earlier)", compacted, churnRev)
	}
	if _, err := st.cli.Get(ctx, "/orch/test/0001", clientv3WithRev(churnRev-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read at a revision older than a minute: err=%v, want ErrCompacted", err)
	}
	if r, err := st.cli.Get(ctx, "/orch/test/later", clientv3WithRev(put.Header.Revision)); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("read at a recent revision: %v, %v; want the value", r, err)
	}
	// Compaction runs in the background; the tick after it sees the free
	// space and defragments.
	deadline := time.Now().Add(30 * time.Second)
	for {
		marks, compacted, lastDefrag = st.compactOnce(ctx, time.Now().Add(2*historyKept), nil, compacted, time.Time{})
		after, err := st.cli.Status(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if after.DbSize < before.DbSize-2<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend still %d bytes (%d in use), was %d before compaction; want it defragmented below %d", after.DbSize, after.DbSizeInUse, before.DbSize, before.DbSize-2<<20)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = marks
}

func clientv3WithPrefix() clientv3.OpOption     { return clientv3.WithPrefix() }
func clientv3WithRev(r int64) clientv3.OpOption { return clientv3.WithRev(r) }
