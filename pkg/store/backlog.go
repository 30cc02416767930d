package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// QueueBacklog is one queue's backlog (visible plus in-flight messages) as
// the replica owning the queues published it, so that an autoscaler in
// another replica (the controller leader) can read it and be woken when it
// changes. The key is bound to the owner's election lease: it vanishes
// with the owner.
type QueueBacklog struct {
	Queue   string    `json:"queue"`
	Backlog int       `json:"backlog"`
	At      time.Time `json:"at"`
}

func (s *Store) queueBacklogKey(queue string) string { return s.key("qbacklog", queue) }

// PutQueueBacklog publishes b under the queue owner's lease, only while l
// still holds the election (ErrNotLeader otherwise).
func (s *Store) PutQueueBacklog(ctx context.Context, b QueueBacklog, l *Leader) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	resp, err := s.cli.Txn(ctx).If(*l.Guard()).
		Then(clientv3.OpPut(s.queueBacklogKey(b.Queue), string(v), clientv3.WithLease(l.session.Lease()))).Commit()
	if err != nil {
		return fmt.Errorf("store: publish the backlog of queue %s: %w", b.Queue, err)
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	return nil
}

// DeleteQueueBacklog removes a queue's published backlog.
func (s *Store) DeleteQueueBacklog(ctx context.Context, queue string) error {
	if _, err := s.cli.Delete(ctx, s.queueBacklogKey(queue)); err != nil {
		return fmt.Errorf("store: delete the backlog of queue %s: %w", queue, err)
	}
	return nil
}

// QueueBacklogCache mirrors the published queue backlogs (key: queue name).
func (s *Store) QueueBacklogCache() *Cache[QueueBacklog] {
	return newCache[QueueBacklog](s, s.key("qbacklog")+"/")
}
