package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *Store) taskKey(id string) string { return s.key("tasks", id) }

// TaskPrefix is the key prefix of every task (for watches).
func (s *Store) taskPrefix() string { return s.key("tasks") + "/" }

// CreateTasks stores new tasks, many per transaction. A task id that exists
// already is a conflict.
func (s *Store) CreateTasks(ctx context.Context, tasks []*model.Task) error {
	encs, err := encodeTasks(tasks)
	if err != nil {
		return err
	}
	for _, r := range s.taskBatches(encs) {
		start, end := r[0], r[1]
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for i, t := range tasks[start:end] {
			b := encs[start+i]
			k := s.taskKey(t.TaskID)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
			ops = append(ops, clientv3.OpPut(k, string(b)))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return Unknown(fmt.Errorf("store: create tasks: %w", err))
		}
		if !resp.Succeeded {
			return fmt.Errorf("store: create tasks: a task id exists already: %w", model.ErrConflict)
		}
		for _, t := range tasks[start:end] {
			t.ModRevision = resp.Header.Revision
		}
	}
	return nil
}

// GetTask reads one task.
func (s *Store) GetTask(ctx context.Context, id string) (*model.Task, error) {
	var t model.Task
	rev, err := s.get(ctx, s.taskKey(id), &t)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("task %s: %w", id, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	t.ModRevision = rev
	return &t, nil
}

// ListTasks returns every task and the etcd revision of the read, from which
// a watch can continue without missing a change.
func (s *Store) ListTasks(ctx context.Context) ([]*model.Task, int64, error) {
	return listRev[model.Task](ctx, s, s.taskPrefix())
}

// UpdateTask applies fn to the current task and writes it back conditional
// on the revision read, re-reading and retrying on conflict. fn returns
// false to leave the task unchanged.
func (s *Store) UpdateTask(ctx context.Context, id string, fn func(*model.Task) (bool, error)) (*model.Task, error) {
	var out *model.Task
	err := s.update(ctx, s.taskKey(id), func(b []byte) ([]byte, error) {
		var t model.Task
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, err
		}
		changed, err := fn(&t)
		out = &t
		if err != nil || !changed {
			return nil, err
		}
		return encodeTask(&t)
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("task %s: %w", id, model.ErrNotFound)
	}
	return out, err
}

// Guard is an extra condition on a batched write, e.g. "this process still
// holds the controller election" (Leader.Guard).
type Guard = clientv3.Cmp

// CommitTasks writes tasks that were read at their ModRevision, many per
// transaction, each conditional on its revision being unchanged. A batch
// whose comparisons fail is retried without the conflicting tasks, which
// are returned so the caller can re-read them. guard, when non-nil, must
// hold for anything to be written (ErrNotLeader otherwise).
//
// Batches are cut by bytes as well as by count, and a batch etcd refuses
// for its size is split in halves, so one large record never blocks the
// others (issue 12 item 1).
func (s *Store) CommitTasks(ctx context.Context, tasks []*model.Task, guard *Guard) (conflicts []string, err error) {
	encs := make([][]byte, 0, len(tasks))
	ok := make([]*model.Task, 0, len(tasks))
	var bad error
	for _, t := range tasks {
		b, err := encodeTask(t)
		if err != nil {
			// Cannot happen for a record that was stored bounded; if it
			// does, that one task is skipped (reported as a conflict, so
			// the caller re-reads it), never the batch.
			conflicts = append(conflicts, t.TaskID)
			bad = err
			continue
		}
		encs, ok = append(encs, b), append(ok, t)
	}
	for _, r := range s.taskBatches(encs) {
		c, err := s.commitSplit(ctx, ok[r[0]:r[1]], encs[r[0]:r[1]], guard)
		conflicts = append(conflicts, c...)
		if err != nil {
			return conflicts, err
		}
	}
	if bad != nil && len(ok) == 0 {
		return conflicts, bad
	}
	return conflicts, nil
}

// commitSplit commits a batch, halving it while etcd refuses its size.
func (s *Store) commitSplit(ctx context.Context, batch []*model.Task, encs [][]byte, guard *Guard) ([]string, error) {
	c, err := s.commitBatch(ctx, batch, encs, guard)
	if err == nil || !tooBig(err) {
		return c, err
	}
	if len(batch) == 1 {
		return append(c, batch[0].TaskID), nil
	}
	h := len(batch) / 2
	c1, err := s.commitSplit(ctx, batch[:h], encs[:h], guard)
	if err != nil {
		return c1, err
	}
	c2, err := s.commitSplit(ctx, batch[h:], encs[h:], guard)
	return append(c1, c2...), err
}

// ErrNotLeader means a guarded write found the election lost. It is a
// model.ErrNotLeader (errors.Is), which the API turns into a 503.
var ErrNotLeader error = notLeader{}

type notLeader struct{}

func (notLeader) Error() string        { return "store: this process no longer holds the controller election" }
func (notLeader) Is(target error) bool { return target == model.ErrNotLeader }

func (s *Store) commitBatch(ctx context.Context, batch []*model.Task, encs [][]byte, guard *Guard) ([]string, error) {
	var conflicts []string
	for len(batch) > 0 {
		cmps := make([]clientv3.Cmp, 0, len(batch)+1)
		ops := make([]clientv3.Op, 0, len(batch))
		gets := make([]clientv3.Op, 0, len(batch))
		for i, t := range batch {
			b := encs[i]
			k := s.taskKey(t.TaskID)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", t.ModRevision))
			ops = append(ops, clientv3.OpPut(k, string(b)))
			gets = append(gets, clientv3.OpGet(k, clientv3.WithKeysOnly()))
		}
		if guard != nil {
			cmps = append(cmps, *guard)
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(gets...).Commit()
		if err != nil {
			return conflicts, Unknown(fmt.Errorf("store: commit %d tasks: %w", len(batch), err))
		}
		if resp.Succeeded {
			for _, t := range batch {
				t.ModRevision = resp.Header.Revision
			}
			return conflicts, nil
		}
		// Find which tasks changed under us, drop them, retry the rest.
		var keep []*model.Task
		var keepEncs [][]byte
		for i, r := range resp.Responses {
			kvs := r.GetResponseRange().Kvs
			if len(kvs) == 1 && kvs[0].ModRevision == batch[i].ModRevision {
				keep = append(keep, batch[i])
				keepEncs = append(keepEncs, encs[i])
			} else {
				conflicts = append(conflicts, batch[i].TaskID)
			}
		}
		if len(keep) == len(batch) {
			return conflicts, ErrNotLeader // only the guard can have failed
		}
		batch, encs = keep, keepEncs
	}
	return conflicts, nil
}

// ForceDeleteTask removes a task's key whatever it holds: the admin's way
// out when a record cannot be read or rewritten (issue 12 item 1).
func (s *Store) ForceDeleteTask(ctx context.Context, id string) error {
	resp, err := s.cli.Delete(ctx, s.taskKey(id))
	if err != nil {
		return Unknown(fmt.Errorf("store: delete task %s: %w", id, err))
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("task %s: %w", id, model.ErrNotFound)
	}
	return nil
}

// DeleteTasks removes tasks, each conditional on its ModRevision.
func (s *Store) DeleteTasks(ctx context.Context, tasks []*model.Task) error {
	for start := 0; start < len(tasks); start += s.maxBatch {
		end := min(start+s.maxBatch, len(tasks))
		for _, t := range tasks[start:end] {
			// Deleting is rare and small; one txn per task keeps a single
			// concurrent update from blocking the whole batch.
			k := s.taskKey(t.TaskID)
			if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", t.ModRevision)).
				Then(clientv3.OpDelete(k)).Commit(); err != nil {
				return fmt.Errorf("store: delete task %s: %w", t.TaskID, err)
			}
		}
	}
	return nil
}
