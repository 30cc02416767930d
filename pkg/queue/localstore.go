package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue/qlog"
	"github.com/orch-project/orch/pkg/store"
)

// The local message store (Options.LogDir): on a single server (embedded
// etcd, which no other replica can join) each queue shard's messages and
// FIFO deduplication records live in a segment log of its own
// (pkg/queue/qlog) under LogDir/shard-NN instead of etcd keys. Queue
// definitions, ownership, the inboxes and everything else stay in etcd.
//
// One log per shard, not per queue: the commit loop is per shard, so one
// group of writes from many queues is one write and one fdatasync.
//
// The commit loop writes ops to the log; inbox ops (messages crossing to
// or from another shard) still go to etcd, ordered so nothing acknowledged
// is lost in a crash between the two: inbox entries are put before the
// log append (a move out of a queue: the source's tombstone follows the
// entry), and deleted after it (absorbing: the message is in the log before
// its entry goes). A crash in between delivers the message twice, which
// at-least-once allows.

// shardLog is what takeOver read from a shard's log: live messages and
// deduplication records by queue id.
type shardLog struct {
	log   *qlog.Log
	msgs  map[string][]*model.QueueMessage
	dedup map[string][]*store.DedupRecord
	// expired: deletions of deduplication records that expired while the
	// server was down (loadQueue skips them, so no sweep would ever delete
	// them and they would stay live in the log for good).
	expired []qlog.Record
}

// openShardLog opens (and replays) shard's log.
func (b *Broker) openShardLog(shard int) (*shardLog, error) {
	sl := &shardLog{msgs: map[string][]*model.QueueMessage{}, dedup: map[string][]*store.DedupRecord{}}
	dir := filepath.Join(b.opts.LogDir, fmt.Sprintf("shard-%02d", shard))
	var decodeErr error
	l, err := qlog.Open(dir, qlog.Options{SegmentBytes: b.opts.LogSegmentBytes}, func(r *qlog.Record) {
		switch r.Kind {
		case qlog.Send:
			m := new(model.QueueMessage)
			if err := json.Unmarshal(r.Data, m); err != nil {
				// Framing and CRC were fine, so this is a bug, not
				// damage: say which record and go on without it.
				if decodeErr == nil {
					decodeErr = fmt.Errorf("message %s of queue %s: %w", r.ID, r.Queue, err)
				}
				return
			}
			sl.msgs[r.Queue] = append(sl.msgs[r.Queue], m)
		case qlog.Dedup:
			sl.dedup[r.Queue] = append(sl.dedup[r.Queue], &store.DedupRecord{Key: r.ID, MessageID: r.DedupMessageID, ExpiresMs: r.DedupExpiresMs})
		}
	})
	if err != nil {
		return nil, err
	}
	if decodeErr != nil {
		b.log.Warn("skipping an undecodable message in the queue log", "shard", shard, "err", decodeErr)
	}
	sl.log = l
	return sl, nil
}

// migrate moves the messages and deduplication records a previous version
// kept in etcd for queue meta into the log (durably), then deletes the etcd
// keys. A crash in between leaves them in both; the next start moves them
// again, and the log keeps one copy per message id.
func (b *Broker) migrate(ctx context.Context, sl *shardLog, meta *model.Queue, guard *store.Guard) error {
	var recs []qlog.Record
	var msgs []*model.QueueMessage
	have := map[string]bool{} // already in the log (moved before a crash kept the keys)
	for _, m := range sl.msgs[meta.ID] {
		have[m.MessageID] = true
	}
	inEtcd := 0
	var encErr error
	err := b.st.LoadQueueMessages(ctx, meta.ID, func(m *model.QueueMessage) {
		inEtcd++
		if have[m.MessageID] {
			return
		}
		enc, err := store.EncodeQueueMessage(m)
		if err != nil {
			encErr = err
			return
		}
		recs = append(recs, qlog.Record{Kind: qlog.Send, Queue: meta.ID, ID: m.MessageID, Data: enc})
		msgs = append(msgs, m)
	})
	if err == nil {
		err = encErr
	}
	if err != nil {
		return err
	}
	ds, err := b.st.LoadQueueDedup(ctx, meta.ID)
	if err != nil {
		return err
	}
	inEtcd += len(ds)
	if inEtcd == 0 {
		return nil
	}
	haveDedup := map[string]bool{}
	for _, d := range sl.dedup[meta.ID] {
		haveDedup[d.Key] = true
	}
	n := 0
	for _, d := range ds {
		if haveDedup[d.Key] {
			continue
		}
		ds[n] = d
		n++
	}
	ds = ds[:n]
	for _, d := range ds {
		recs = append(recs, qlog.Record{Kind: qlog.Dedup, Queue: meta.ID, ID: d.Key, DedupMessageID: d.MessageID, DedupExpiresMs: d.ExpiresMs})
	}
	if len(recs) == 0 {
		// Only copies already moved before a crash: the keys are left over.
		return b.st.DeleteQueueData(ctx, meta.ID, guard)
	}
	// In groups of at most 1000 records and 64 MiB (a log group has a
	// size limit, and one this large gains nothing).
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && n < 1000 && (n == 0 || size+len(recs[n].Data) <= 64<<20) {
			size += len(recs[n].Data)
			n++
		}
		if err := sl.log.Append(recs[:n]); err != nil {
			return fmt.Errorf("moving queue %s's messages from etcd into its log: %w", meta.Name, err)
		}
		recs = recs[n:]
	}
	if err := b.st.DeleteQueueData(ctx, meta.ID, guard); err != nil {
		return fmt.Errorf("deleting queue %s's messages from etcd after moving them into its log: %w", meta.Name, err)
	}
	sl.msgs[meta.ID] = append(sl.msgs[meta.ID], msgs...)
	sl.dedup[meta.ID] = append(sl.dedup[meta.ID], ds...)
	b.log.Info("moved a queue's messages from etcd into the local queue log", "queue", meta.Name, "messages", len(msgs))
	return nil
}

// logCommit is the commit function of the local store: the group's
// message and deduplication writes in one log append (one write, one
// fdatasync), inbox writes in etcd around it (see the top of this file).
func logCommit(st *store.Store, l *qlog.Log, guard *store.Guard) func(ctx context.Context, ops []store.QueueOp) error {
	return func(ctx context.Context, ops []store.QueueOp) error {
		// Per call: with CommitPipelines > 1 commits run concurrently.
		recs := make([]qlog.Record, 0, len(ops))
		var inboxPuts, inboxDels []store.QueueOp
		for i := range ops {
			op := &ops[i]
			switch op.Kind {
			case store.QueuePutMessage:
				b := op.Encoded
				if b == nil {
					var err error
					if b, err = store.EncodeQueueMessage(op.Message); err != nil {
						return err
					}
				}
				recs = append(recs, qlog.Record{Kind: qlog.Send, Queue: op.QueueID, ID: op.ID, Data: b})
			case store.QueueDeleteMessage:
				recs = append(recs, qlog.Record{Kind: qlog.Delete, Queue: op.QueueID, ID: op.ID})
			case store.QueuePutDedup:
				recs = append(recs, qlog.Record{Kind: qlog.Dedup, Queue: op.QueueID, ID: op.ID, DedupMessageID: op.DedupMessageID, DedupExpiresMs: op.DedupExpiresMs})
			case store.QueueDeleteDedup:
				recs = append(recs, qlog.Record{Kind: qlog.DedupDelete, Queue: op.QueueID, ID: op.ID})
			case store.QueuePutInbox:
				inboxPuts = append(inboxPuts, *op)
			case store.QueueDeleteInbox:
				inboxDels = append(inboxDels, *op)
			default:
				return fmt.Errorf("queue op kind %d unknown", op.Kind)
			}
		}
		if len(inboxPuts) > 0 {
			if err := st.CommitQueueOps(ctx, inboxPuts, guard); err != nil {
				return err
			}
		}
		if err := l.Append(recs); err != nil {
			return fmt.Errorf("%w: %w", errLog, err)
		}
		if len(inboxDels) > 0 {
			return st.CommitQueueOps(ctx, inboxDels, guard)
		}
		return nil
	}
}

// errLog marks a failed log append: the owner gives the shard up and takes
// it again, which reopens the log (cutting off a partial write).
var errLog = errors.New("queue log")
