package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue/qlog"
	"github.com/orch-project/orch/pkg/store"
)

// startBroker runs a broker on the test store until stop is called (or
// the test ends) and waits until it owns the queues.
func startBroker(t *testing.T, logDir string) (b *Broker, stop func()) {
	t.Helper()
	return startBrokerWith(t, Options{LogDir: logDir})
}

func startBrokerWith(t *testing.T, o Options) (b *Broker, stop func()) {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b = New(testStore, o)
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
	eventually(t, "the broker owns the queues", b.Owned)
	return b, stop
}

// drain receives every visible message of queue (hidden for a minute) and
// returns their bodies, sorted.
func drain(t *testing.T, b *Broker, queue string) []string {
	t.Helper()
	var bodies []string
	zero, vis := 0, 60
	for {
		ms, err := b.ReceiveMessage(context.Background(), queue, ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &zero, VisibilityTimeout: &vis})
		if err != nil {
			t.Fatalf("receive from %s: %v", queue, err)
		}
		if len(ms) == 0 {
			sort.Strings(bodies)
			return bodies
		}
		for _, m := range ms {
			bodies = append(bodies, m.Body)
		}
	}
}

func deleteQueues(t *testing.T, b *Broker, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := b.DeleteQueue(context.Background(), n); err != nil {
			t.Errorf("deleting queue %s: %v", n, err)
		}
	}
}

// A server restarted on its log has every acknowledged send and no
// acknowledged delete back, and FIFO deduplication remembers what it saw.
func TestLocalStoreRestartReplaysTheLog(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "queues")
	b, stop := startBroker(t, dir)
	const std, fifo = "ls-restart", "ls-restart.fifo"
	if _, err := b.CreateQueue(ctx, std, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateQueue(ctx, fifo, map[string]string{"FifoQueue": "true"}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := b.SendMessage(ctx, std, SendEntry{Body: fmt.Sprintf("m%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	zero := 0
	ms, err := b.ReceiveMessage(ctx, std, ReceiveInput{MaxNumberOfMessages: 10, WaitTimeSeconds: &zero})
	if err != nil || len(ms) == 0 {
		t.Fatalf("receive: %d messages, %v", len(ms), err)
	}
	deleted := map[string]bool{}
	for _, m := range ms[:len(ms)/2] {
		if err := b.DeleteMessage(ctx, std, m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
		deleted[m.Body] = true
	}
	first, err := b.SendMessage(ctx, fifo, SendEntry{Body: "f", GroupID: "g", DeduplicationID: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	stop()

	// Private files only.
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	b, _ = startBroker(t, dir)
	var want []string
	for i := range 20 {
		if s := fmt.Sprintf("m%02d", i); !deleted[s] {
			want = append(want, s)
		}
	}
	if got := drain(t, b, std); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the restart %s holds %v, want %v (every send acknowledged, no acknowledged delete)", std, got, want)
	}
	again, err := b.SendMessage(ctx, fifo, SendEntry{Body: "f", GroupID: "g", DeduplicationID: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.MessageID != first.MessageID {
		t.Errorf("a duplicate sent after the restart got message id %s, want the first's %s (deduplication forgot it)", again.MessageID, first.MessageID)
	}
	if got := drain(t, b, fifo); len(got) != 1 {
		t.Errorf("%s holds %v after a duplicate send, want one message", fifo, got)
	}
	deleteQueues(t, b, std, fifo)
}

// A server started with the local store on a data dir whose messages a
// previous version kept in etcd moves them into the log and deletes them
// from etcd; they survive the next restart too.
func TestLocalStoreMovesMessagesOutOfEtcd(t *testing.T) {
	ctx := context.Background()
	const name = "ls-upgrade"
	b, stop := startBroker(t, "") // the etcd store, as before this version
	meta, err := b.CreateQueue(ctx, name, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		body := fmt.Sprintf("old%d", i)
		if _, err := b.SendMessage(ctx, name, SendEntry{Body: body}); err != nil {
			t.Fatal(err)
		}
		want = append(want, body)
	}
	stop()
	var old []*model.QueueMessage
	if err := testStore.LoadQueueMessages(ctx, meta.ID, func(m *model.QueueMessage) { old = append(old, m) }); err != nil || len(old) != 5 {
		t.Fatalf("messages in etcd before the move: %d, %v; want 5", len(old), err)
	}

	dir := t.TempDir()
	b, stop = startBroker(t, dir)
	eventually(t, "the broker owns "+name, func() bool { return b.OwnsQueue(name) })
	var left []*model.QueueMessage
	if err := testStore.LoadQueueMessages(ctx, meta.ID, func(m *model.QueueMessage) { left = append(left, m) }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d messages still in etcd after the move into the log", len(left))
	}
	if _, err := b.SendMessage(ctx, name, SendEntry{Body: "new"}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "new")
	sort.Strings(want)
	stop()
	// As if the server had crashed after moving the messages into the log
	// but before deleting them from etcd: the next start must not load
	// them twice.
	var ops []store.QueueOp
	for _, m := range old {
		ops = append(ops, store.QueueOp{Kind: store.QueuePutMessage, QueueID: meta.ID, ID: m.MessageID, Message: m})
	}
	if err := testStore.CommitQueueOps(ctx, ops, nil); err != nil {
		t.Fatal(err)
	}

	b, _ = startBroker(t, dir)
	if got := drain(t, b, name); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the move and a restart %s holds %v, want %v (each once)", name, got, want)
	}
	left = nil
	if err := testStore.LoadQueueMessages(ctx, meta.ID, func(m *model.QueueMessage) { left = append(left, m) }); err != nil || len(left) != 0 {
		t.Errorf("%d messages left in etcd after the second start (%v), want 0", len(left), err)
	}
	deleteQueues(t, b, name)
}

// Deleting a queue drops its records; a queue deleted while this server
// was down (its definition gone from etcd) is dropped at the next start.
func TestLocalStoreDropsDeletedQueues(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, stop := startBroker(t, dir)
	for _, n := range []string{"ls-drop-a", "ls-drop-b"} {
		if _, err := b.CreateQueue(ctx, n, nil, nil); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := b.SendMessage(ctx, n, SendEntry{Body: n}); err != nil {
				t.Fatal(err)
			}
		}
	}
	deleteQueues(t, b, "ls-drop-a")
	o, err := b.ownerOf(ctx, "ls-drop-b")
	if err != nil {
		t.Fatal(err)
	}
	if qs := o.qlog.Queues(); len(qs) != 1 {
		t.Errorf("the shard log holds records of %d queues after deleting one of two in it, want 1", len(qs))
	}
	stop()
	// As if deleted by a crash between the etcd delete and the log append.
	meta, err := testStore.GetQueue(ctx, "ls-drop-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := testStore.DeleteQueue(ctx, meta, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = startBroker(t, dir)
	eventually(t, "the broker owns every shard", func() bool { return b.ShardsOwned() == b.opts.Shards })
	for s := range b.opts.Shards {
		b.mu.RLock()
		o := b.owners[s]
		b.mu.RUnlock()
		if o != nil && o.qlog != nil {
			if qs := o.qlog.Queues(); len(qs) != 0 {
				t.Errorf("shard %d's log still holds records of %v after their queues were deleted", s, qs)
			}
		}
	}
}

// A FIFO deduplication record that expired while the server was down is
// never in memory after the restart, so no sweep deletes it: the start
// must, or every restart leaves records live in the log for good (disk not
// bounded by live data).
func TestLocalStoreRestartDeletesDedupRecordsThatExpiredWhileDown(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "queues")
	clk := newFakeClock()
	const fifo = "ls-dedup-expired.fifo"
	b, stop := startBrokerWith(t, Options{LogDir: dir, Clock: clk})
	if _, err := b.CreateQueue(ctx, fifo, map[string]string{"FifoQueue": "true"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendMessage(ctx, fifo, SendEntry{Body: "f", GroupID: "g", DeduplicationID: "d1"}); err != nil {
		t.Fatal(err)
	}
	stop()
	liveDedup := func() int {
		t.Helper()
		n := 0
		shards, _ := filepath.Glob(filepath.Join(dir, "shard-*"))
		for _, sd := range shards {
			l, err := qlog.Open(sd, qlog.Options{}, func(r *qlog.Record) {
				if r.Kind == qlog.Dedup {
					n++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
		}
		return n
	}
	if n := liveDedup(); n != 1 {
		t.Fatalf("%d deduplication records in the log after the send, want 1", n)
	}

	clk.Advance(10 * time.Minute) // past the 5-minute deduplication interval
	b, stop = startBrokerWith(t, Options{LogDir: dir, Clock: clk})
	eventually(t, "the broker owns "+fifo, func() bool { return b.OwnsQueue(fifo) })
	stop()
	if n := liveDedup(); n != 0 {
		t.Errorf("%d expired deduplication records still live in the log after a restart, want 0", n)
	}
	b, _ = startBrokerWith(t, Options{LogDir: dir, Clock: clk})
	deleteQueues(t, b, fifo)
}
