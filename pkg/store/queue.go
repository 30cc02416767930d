package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Queue keys (see doc.go):
//
//	queues/<name>                     model.Queue
//	qmsgs/<queueId>/<messageId>       model.QueueMessage (created and deleted, never updated in place)
//	qdedup/<queueId>/<key>            FIFO deduplication record, deleted after its 5-minute window
//
// Messages are keyed by the queue's ID, not its name, so deleting a queue is
// one range delete and a queue created again under the same name starts
// empty.

func (s *Store) queueKey(name string) string { return s.key("queues", name) }
func (s *Store) queuePrefix() string         { return s.key("queues") + "/" }
func (s *Store) qmsgPrefix(qid string) string {
	return s.key("qmsgs", qid) + "/"
}
func (s *Store) qdedupPrefix(qid string) string { return s.key("qdedup", qid) + "/" }

// CreateQueue stores q unless a queue of that name exists; then it returns
// the existing queue and created=false.
func (s *Store) CreateQueue(ctx context.Context, q *model.Queue) (*model.Queue, bool, error) {
	b, err := json.Marshal(q)
	if err != nil {
		return nil, false, err
	}
	k := s.queueKey(q.Name)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(b))).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, false, fmt.Errorf("store: create queue %s: %w", q.Name, err)
	}
	if resp.Succeeded {
		q.ModRevision = resp.Header.Revision
		return q, true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, false, fmt.Errorf("store: create queue %s: %w", q.Name, model.ErrConflict)
	}
	var old model.Queue
	if err := json.Unmarshal(kvs[0].Value, &old); err != nil {
		return nil, false, fmt.Errorf("store: decode queue %s: %w", q.Name, err)
	}
	old.ModRevision = kvs[0].ModRevision
	return &old, false, nil
}

// GetQueue reads one queue, or model.ErrNotFound.
func (s *Store) GetQueue(ctx context.Context, name string) (*model.Queue, error) {
	var q model.Queue
	rev, err := s.get(ctx, s.queueKey(name), &q)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("queue %s: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	q.ModRevision = rev
	return &q, nil
}

// ListQueues returns every queue in name order.
func (s *Store) ListQueues(ctx context.Context) ([]*model.Queue, error) {
	qs, _, err := listRev[model.Queue](ctx, s, s.queuePrefix())
	return qs, err
}

// UpdateQueue applies fn to the stored queue and writes it back conditional
// on the revision read (retrying on conflict). fn returning false leaves it.
func (s *Store) UpdateQueue(ctx context.Context, name string, fn func(*model.Queue) (bool, error)) (*model.Queue, error) {
	var out *model.Queue
	err := s.update(ctx, s.queueKey(name), func(b []byte) ([]byte, error) {
		var q model.Queue
		if err := json.Unmarshal(b, &q); err != nil {
			return nil, err
		}
		changed, err := fn(&q)
		out = &q
		if err != nil || !changed {
			return nil, err
		}
		return json.Marshal(&q)
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("queue %s: %w", name, model.ErrNotFound)
	}
	return out, err
}

// DeleteQueue removes a queue with its messages and deduplication records,
// if it is still the incarnation q.ID.
func (s *Store) DeleteQueue(ctx context.Context, q *model.Queue, guard *Guard) error {
	k := s.queueKey(q.Name)
	var cmps []clientv3.Cmp
	if guard != nil {
		cmps = append(cmps, *guard)
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(
		clientv3.OpDelete(k),
		clientv3.OpDelete(s.qmsgPrefix(q.ID), clientv3.WithPrefix()),
		clientv3.OpDelete(s.qdedupPrefix(q.ID), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("store: delete queue %s: %w", q.Name, err)
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	return nil
}

// DeleteQueueData removes the messages and deduplication records of queue
// qid (kept now by the queue's local log), if guard (non-nil) holds.
func (s *Store) DeleteQueueData(ctx context.Context, qid string, guard *Guard) error {
	txn := s.cli.Txn(ctx)
	if guard != nil {
		txn = txn.If(*guard)
	}
	resp, err := txn.Then(
		clientv3.OpDelete(s.qmsgPrefix(qid), clientv3.WithPrefix()),
		clientv3.OpDelete(s.qdedupPrefix(qid), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("store: delete the messages of queue %s: %w", qid, err)
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	return nil
}

// QueueOpKind says what a QueueOp writes.
type QueueOpKind uint8

// Kinds of queue writes.
const (
	QueuePutMessage QueueOpKind = iota + 1
	QueueDeleteMessage
	QueuePutDedup
	QueueDeleteDedup
	// QueuePutInbox puts Message into the inbox of shard Shard for queue
	// QueueID (named QueueName) under ID; QueueDeleteInbox removes it.
	QueuePutInbox
	QueueDeleteInbox
)

// QueueOp is one write of a batched queue commit.
type QueueOp struct {
	Kind    QueueOpKind
	QueueID string
	// ID is the message id, or the deduplication key.
	ID string
	// Message to put (QueuePutMessage).
	Message *model.QueueMessage
	// Encoded is Message already encoded (optional; see EncodeQueueMessage).
	Encoded []byte
	// DedupMessageID and DedupExpiresMs describe a deduplication record.
	DedupMessageID string
	DedupExpiresMs int64
	// Shard and QueueName address an inbox entry (QueuePutInbox, QueueDeleteInbox).
	Shard     int
	QueueName string
}

// DedupRecord is a stored FIFO deduplication entry.
type DedupRecord struct {
	Key       string `json:"k"`
	MessageID string `json:"m"`
	ExpiresMs int64  `json:"x"`
}

// QueueOpSize estimates the bytes an op adds to a transaction.
func QueueOpSize(op *QueueOp) int {
	n := 96 + len(op.QueueID) + len(op.ID)
	if op.Encoded != nil {
		n += len(op.Encoded)
	} else if op.Message != nil {
		n += op.Message.Size() + 256
	}
	return n
}

// MaxQueueTxnBytes is how many bytes a batched queue commit should carry at
// most: etcd's default request limit is 1.5 MiB; the embedded one is raised.
func (s *Store) MaxQueueTxnBytes() int {
	if s.embedded != nil {
		return 8 << 20
	}
	return 1 << 20
}

// CommitQueueOps writes ops in one transaction (callers keep len(ops) within
// MaxBatch and the bytes within MaxQueueTxnBytes; a single larger op still
// goes alone). The ops must not name a key twice. guard, when non-nil, must
// hold (ErrNotLeader otherwise).
func (s *Store) CommitQueueOps(ctx context.Context, ops []QueueOp, guard *Guard) error {
	tops := make([]clientv3.Op, 0, len(ops))
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case QueuePutMessage:
			b := op.Encoded
			if b == nil {
				var err error
				if b, err = EncodeQueueMessage(op.Message); err != nil {
					return err
				}
			}
			tops = append(tops, clientv3.OpPut(s.qmsgPrefix(op.QueueID)+op.ID, string(b)))
		case QueueDeleteMessage:
			tops = append(tops, clientv3.OpDelete(s.qmsgPrefix(op.QueueID)+op.ID))
		case QueuePutDedup:
			b, _ := json.Marshal(DedupRecord{Key: op.ID, MessageID: op.DedupMessageID, ExpiresMs: op.DedupExpiresMs})
			tops = append(tops, clientv3.OpPut(s.qdedupPrefix(op.QueueID)+op.ID, string(b)))
		case QueueDeleteDedup:
			tops = append(tops, clientv3.OpDelete(s.qdedupPrefix(op.QueueID)+op.ID))
		case QueuePutInbox:
			b, err := json.Marshal(InboxMessage{Shard: op.Shard, QueueID: op.QueueID, ID: op.ID, Queue: op.QueueName, Message: op.Message})
			if err != nil {
				return err
			}
			tops = append(tops, clientv3.OpPut(s.inboxPrefix(op.Shard)+op.QueueID+"/"+op.ID, string(b)))
		case QueueDeleteInbox:
			tops = append(tops, clientv3.OpDelete(s.inboxPrefix(op.Shard)+op.QueueID+"/"+op.ID))
		default:
			return fmt.Errorf("store: queue op kind %d unknown", op.Kind)
		}
	}
	txn := s.cli.Txn(ctx)
	if guard != nil {
		txn = txn.If(*guard)
	}
	resp, err := txn.Then(tops...).Commit()
	if err != nil {
		return fmt.Errorf("store: commit %d queue writes: %w", len(ops), err)
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	var n int64
	for i := range tops {
		n += int64(len(tops[i].KeyBytes()) + len(tops[i].ValueBytes()))
	}
	queueTxns.Add(1)
	queueOps.Add(int64(len(tops)))
	queueBytes.Add(n)
	return nil
}

// queueTxns, queueOps and queueBytes count the queue commits that
// succeeded, process-wide: transactions, operations, and key plus value
// bytes (what etcd's WAL and bbolt store for them, before their own
// framing). The cost model in docs/queues.md is measured with them.
var queueTxns, queueOps, queueBytes atomic.Int64

// QueueCommitStats returns the counts of queue commits so far: etcd
// transactions, operations, and key plus value bytes.
func QueueCommitStats() (txns, ops, bytes int64) {
	return queueTxns.Load(), queueOps.Load(), queueBytes.Load()
}

// LoadQueueMessages calls fn for every stored message of queue qid, in
// pages so a large backlog does not make one huge read.
func (s *Store) LoadQueueMessages(ctx context.Context, qid string, fn func(*model.QueueMessage)) error {
	prefix := s.qmsgPrefix(qid)
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(5000)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		if err != nil {
			return fmt.Errorf("store: load messages of queue %s: %w", qid, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			m := new(model.QueueMessage)
			if err := json.Unmarshal(kv.Value, m); err != nil {
				s.log.Warn("skipping undecodable queue message", "key", string(kv.Key), "err", err)
				continue
			}
			fn(m)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// LoadQueueDedup returns the FIFO deduplication records of queue qid.
func (s *Store) LoadQueueDedup(ctx context.Context, qid string) ([]*DedupRecord, error) {
	return list[DedupRecord](ctx, s, s.qdedupPrefix(qid))
}
