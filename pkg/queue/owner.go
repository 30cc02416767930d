package queue

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue/qlog"
	"github.com/orch-project/orch/pkg/store"
)

// owner is the state of a Broker while it owns one queue shard. It owns
// every goroutine started on the shard's behalf (the sweeper,
// the inbox, move tasks, clean-up writes): stop cancels ctx and waits for
// all of them.
type owner struct {
	b      *Broker
	shard  int
	ctx    context.Context
	cancel context.CancelFunc
	com    *committer
	leader *store.Leader
	qlog   *qlog.Log      // the shard's log with the local store (Options.LogDir), else nil
	wg     sync.WaitGroup // the sweeper, move tasks and clean-up writes

	// The inbox (inbox.go): entries runInbox handed over, and its signal.
	inboxMu  sync.Mutex
	inboxNew []inboxEntry
	inboxSig chan struct{}

	mu        sync.RWMutex
	queues    map[string]*queue
	deletedAt map[string]time.Time
	moveSeq   int
}

// takeOver loads every queue of shard, and its messages, from etcd and
// starts serving them.
func (b *Broker) takeOver(ctx context.Context, shard int, l *store.Leader) (*owner, error) {
	octx, cancel := context.WithCancel(ctx)
	o := &owner{b: b, shard: shard, ctx: octx, cancel: cancel, leader: l, queues: map[string]*queue{}, deletedAt: map[string]time.Time{},
		inboxSig: make(chan struct{}, 1)}
	metas, err := b.st.ListQueues(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	var sl *shardLog
	if b.opts.LogDir != "" {
		if sl, err = b.openShardLog(shard); err != nil {
			cancel()
			return nil, err
		}
		o.qlog = sl.log
	}
	fail := func(err error) (*owner, error) {
		cancel()
		if o.qlog != nil {
			o.qlog.Close()
		}
		return nil, err
	}
	now := b.clock.Now()
	known := map[string]bool{}
	for _, meta := range metas {
		if b.shardOf(meta.Name) != shard {
			continue
		}
		known[meta.ID] = true
		if sl != nil {
			if err := b.migrate(ctx, sl, meta, l.Guard()); err != nil {
				return fail(err)
			}
		}
		q, err := b.loadQueue(ctx, meta, now, sl)
		if err != nil {
			return fail(err)
		}
		o.queues[meta.Name] = q
	}
	if sl != nil {
		// Deduplication records that expired while the server was down,
		// and records of queues deleted while their drop record was not yet
		// written (a crash after the etcd delete), go now.
		drops := sl.expired
		for _, qid := range sl.log.Queues() {
			if !known[qid] {
				drops = append(drops, qlog.Record{Kind: qlog.DropQueue, Queue: qid})
			}
		}
		if err := sl.log.Append(drops); err != nil {
			return fail(err)
		}
	}
	o.com = newCommitter(b.st, l.Guard(), cancel, o.qlog)
	o.com.start(octx, b.opts.CommitPipelines)
	o.wg.Go(o.sweepLoop)
	o.wg.Go(o.publishLoop)
	o.wg.Go(o.inboxLoop)
	b.log.Info("this server owns queue shard", "shard", shard, "queues", len(o.queues))
	b.setOwner(shard, o)
	return o, nil
}

// loadQueue rebuilds one queue's memory from its stored messages and
// deduplication records.
func (b *Broker) loadQueue(ctx context.Context, meta *model.Queue, now time.Time, sl *shardLog) (*queue, error) {
	q := newQueue(meta, b.opts.Region, b.clock)
	var recs []*model.QueueMessage
	var ds []*store.DedupRecord
	if sl != nil {
		recs, ds = sl.msgs[meta.ID], sl.dedup[meta.ID]
		delete(sl.msgs, meta.ID)
		delete(sl.dedup, meta.ID)
		for _, d := range ds {
			if !q.fifo || d.ExpiresMs <= now.UnixMilli() {
				sl.expired = append(sl.expired, qlog.Record{Kind: qlog.DedupDelete, Queue: meta.ID, ID: d.Key})
			}
		}
		if !q.fifo {
			ds = nil
		}
	} else {
		if err := b.st.LoadQueueMessages(ctx, meta.ID, func(m *model.QueueMessage) { recs = append(recs, m) }); err != nil {
			return nil, err
		}
		if q.fifo {
			var err error
			if ds, err = b.st.LoadQueueDedup(ctx, meta.ID); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range recs {
		q.insert(m, now.UnixNano())
	}
	for _, d := range ds {
		if d.ExpiresMs > now.UnixMilli() {
			q.dedup[d.Key] = dedupEntry{msgID: d.MessageID, expires: d.ExpiresMs}
		}
	}
	return q, nil
}

// stop ends ownership: it cancels the owner's context, stops every queue's
// timers, and returns once every goroutine the owner started has ended.
func (o *owner) stop() {
	o.cancel()
	o.mu.Lock()
	for _, q := range o.queues {
		q.mu.Lock()
		q.released = true
		q.stop()
		q.mu.Unlock()
	}
	o.mu.Unlock()
	// The committer first: once it has stopped, every commit fails at
	// once, so background work blocked on one returns and wg.Wait ends.
	o.com.stop()
	o.wg.Wait()
	if o.qlog != nil {
		o.qlog.Close()
	}
}

// goBackground runs f on a goroutine the owner waits for when it stops.
func (o *owner) goBackground(f func()) { o.wg.Go(f) }

func (o *owner) queue(name string) (*queue, error) {
	o.mu.RLock()
	q := o.queues[name]
	o.mu.RUnlock()
	if q == nil {
		return nil, ErrQueueDoesNotExist
	}
	return q, nil
}

// commitChunks commits ops in transactions of a bounded size, logging
// failures (used for clean-up writes nobody waits for).
func (o *owner) commitChunks(qid string, ops []store.QueueOp) {
	for len(ops) > 0 {
		n := min(len(ops), o.com.maxOps)
		if err := o.com.commit(o.ctx, ops[:n]...); err != nil {
			o.b.log.Warn("queue clean-up write failed", "queue", qid, "err", err)
			return
		}
		ops = ops[n:]
	}
}
