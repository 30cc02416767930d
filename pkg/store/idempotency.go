package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ClientRequest is what an idempotent write (RunTask, CreateService with
// a clientToken) remembers for its window: which parameters it was made
// with and the nonce its object ids were derived from, so a retry returns
// the same objects and a reuse with other parameters is refused.
type ClientRequest struct {
	Params    string    `json:"params"` // sha256 of the request without its token
	Nonce     string    `json:"nonce"`
	CreatedAt time.Time `json:"createdAt"`
}

func (s *Store) clientRequestKey(kind, token string) string {
	sum := sha256.Sum256([]byte(token))
	return s.key("idempotency", kind, hex.EncodeToString(sum[:]))
}

// GetClientRequest reads the record of token for kind ("runtask",
// "service"), or model.ErrNotFound.
func (s *Store) GetClientRequest(ctx context.Context, kind, token string) (*ClientRequest, error) {
	var r ClientRequest
	if _, err := s.get(ctx, s.clientRequestKey(kind, token), &r); err != nil {
		return nil, Unknown(err)
	}
	return &r, nil
}

// CreateTasksOnce stores tasks made for an idempotent RunTask: the record
// and the first batch of tasks in one transaction, conditional on the
// record not existing (model.ErrConflict when a concurrent call made it),
// the record bound to a lease of window so the token can be reused after.
// Later batches skip tasks that exist already, so a retry after a partial
// failure completes the set.
func (s *Store) CreateTasksOnce(ctx context.Context, kind, token string, rec *ClientRequest, window time.Duration, tasks []*model.Task) error {
	lease, err := s.cli.Grant(ctx, int64(window.Seconds()))
	if err != nil {
		return Unknown(fmt.Errorf("store: grant the client token's lease: %w", err))
	}
	b, _ := json.Marshal(rec)
	k := s.clientRequestKey(kind, token)
	encs, err := encodeTasks(tasks)
	if err != nil {
		return err
	}
	first := tasks[:min(s.taskBatches(encs)[0][1], s.maxBatch-1)]
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)}
	ops := []clientv3.Op{clientv3.OpPut(k, string(b), clientv3.WithLease(lease.ID))}
	for i, t := range first {
		tb := encs[i]
		tk := s.taskKey(t.TaskID)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(tk), "=", 0))
		ops = append(ops, clientv3.OpPut(tk, string(tb)))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return Unknown(fmt.Errorf("store: create tasks: %w", err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: client token in use by a concurrent request: %w", model.ErrConflict)
	}
	for _, t := range first {
		t.ModRevision = resp.Header.Revision
	}
	return s.CreateMissingTasks(ctx, tasks[len(first):])
}

// CreateMissingTasks creates those of tasks that do not exist yet, each
// conditional on its key being absent; ones that exist are left alone.
func (s *Store) CreateMissingTasks(ctx context.Context, tasks []*model.Task) error {
	encs, err := encodeTasks(tasks)
	if err != nil {
		return err
	}
	for _, r := range s.taskBatches(encs) {
		// The whole batch at once when none exists (the usual case)...
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for i, t := range tasks[r[0]:r[1]] {
			k := s.taskKey(t.TaskID)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
			ops = append(ops, clientv3.OpPut(k, string(encs[r[0]+i])))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return Unknown(fmt.Errorf("store: create tasks: %w", err))
		}
		if resp.Succeeded {
			continue
		}
		// ...else one by one, leaving those that exist.
		for i, t := range tasks[r[0]:r[1]] {
			tb := encs[r[0]+i]
			k := s.taskKey(t.TaskID)
			if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
				Then(clientv3.OpPut(k, string(tb))).Commit(); err != nil {
				return Unknown(fmt.Errorf("store: create task %s: %w", t.TaskID, err))
			}
		}
	}
	return nil
}

// readFailed marks a read that etcd did not answer in time (no quorum, a
// member away) with context.DeadlineExceeded, so the API answers 503
// naming etcd rather than 500. A member that times out a linearizable
// read itself answers gRPC code Unknown with the text of its context's
// error, which no errors.Is recognises.
func readFailed(err error) error {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	st, _ := status.FromError(err) // a wrapped status carries err's whole text
	timedOut := errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrGRPCTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) || errors.Is(err, rpctypes.ErrGRPCTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrGRPCTimeoutDueToConnectionLost) ||
		status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Unavailable ||
		(st != nil && st.Code() == codes.Unknown && strings.HasSuffix(st.Message(), context.DeadlineExceeded.Error()))
	if timedOut {
		return fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
	}
	return err
}

// timeoutReads marks every Get etcd did not answer in time (readFailed),
// wherever in the store it is made, so none turns into a 500.
type timeoutReads struct{ clientv3.KV }

func (k timeoutReads) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	r, err := k.KV.Get(ctx, key, opts...)
	return r, readFailed(err)
}

// Unknown marks err as a write whose outcome is unknown (etcd timed out
// or the deadline passed: the write may or may not have been applied),
// so the API says so instead of answering a bare 500.
func Unknown(err error) error {
	if err == nil || errors.Is(err, model.ErrNotFound) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) || errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) ||
		errors.Is(err, rpctypes.ErrGRPCTimeout) || errors.Is(err, rpctypes.ErrGRPCTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrGRPCTimeoutDueToConnectionLost) ||
		status.Code(err) == codes.Unavailable {
		// Unavailable: the connection to the member broke while the write
		// was in flight (a member killed); it may have been applied.
		return fmt.Errorf("%w: %w", model.ErrOutcomeUnknown, err)
	}
	return err
}
