package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirBytes is the size of the segment files under dir, by shard directory.
func dirBytes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[filepath.Base(filepath.Dir(p))] += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The queue store's directory is bounded once the queues drain: several
// MiB of messages sent, received and deleted through one queue leave its
// shard's log under qlog's EarlyRollBytes (1 MiB), the per-shard term of
// the bound in docs/queues.md, rather than up to a 64 MiB segment of dead
// records.
func TestLocalStoreDrainedShardFallsUnderItsDiskBound(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, _ := startBroker(t, dir)
	const q = "ls-disk-bound"
	if _, err := b.CreateQueue(ctx, q, nil, nil); err != nil {
		t.Fatal(err)
	}
	defer deleteQueues(t, b, q)
	body := strings.Repeat("d", 4000)
	zero, vis := 0, 60
	const bound = 1 << 20
	peak := int64(0)
	for round := range 100 { // 1,000 messages of 4 KB, about 8 MB of records
		es := make([]SendEntry, 10)
		for i := range es {
			es[i] = SendEntry{ID: fmt.Sprint(i), Body: fmt.Sprintf("%d.%d %s", round, i, body)}
		}
		if _, fails, err := b.SendMessageBatch(ctx, q, es); err != nil || len(fails) > 0 {
			t.Fatalf("send: %v %v", err, fails)
		}
		for got := 0; got < len(es); {
			ms, err := b.ReceiveMessage(ctx, q, ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &zero, VisibilityTimeout: &vis})
			if err != nil {
				t.Fatal(err)
			}
			hs := make([]BatchHandle, len(ms))
			for i, m := range ms {
				hs[i] = BatchHandle{ID: fmt.Sprint(i), Handle: m.ReceiptHandle}
			}
			if len(hs) > 0 {
				if _, fails, err := b.DeleteMessageBatch(ctx, q, hs); err != nil || len(fails) > 0 {
					t.Fatalf("delete: %v %v", err, fails)
				}
			}
			got += len(ms)
		}
		for _, n := range dirBytes(t, dir) {
			peak = max(peak, n)
		}
	}
	// The last delete's commit rolls and unlinks; the commit loop may
	// still be finishing it.
	eventually(t, "every shard's log is under its drained bound", func() bool {
		for _, n := range dirBytes(t, dir) {
			if n >= bound {
				return false
			}
		}
		return true
	})
	o, err := b.ownerOf(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if st := o.qlog.Stats(); st.Bytes < 4*bound || st.EarlyRolls == 0 {
		t.Fatalf("the shard log wrote %d bytes with %d early rolls; the test needs several times the %d-byte bound written, and early rolls", st.Bytes, st.EarlyRolls, bound)
	}
	t.Logf("largest shard log during the run %d bytes; after the drain %v", peak, dirBytes(t, dir))
}
