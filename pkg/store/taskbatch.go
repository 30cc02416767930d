package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// encodeTask bounds t (model.Task.Bound) and encodes it; a record that is
// still over model.MaxTaskBytes loses its oldest events, and one that is
// over even then is refused with model.ErrTooLarge (a 400), so no task
// record can ever fail a batch it is committed in.
func encodeTask(t *model.Task) ([]byte, error) {
	t.Bound()
	b, err := json.Marshal(t)
	for err == nil && len(b) > model.MaxTaskBytes && len(t.Events) > 1 {
		t.Events = append(t.Events[:0:0], t.Events[len(t.Events)/2:]...)
		b, err = json.Marshal(t)
	}
	if err != nil {
		return nil, err
	}
	if len(b) > model.MaxTaskBytes {
		return nil, fmt.Errorf("%w: task %s would take %d bytes in the store, over its %d byte limit; shorten its overrides, tags or placement constraints",
			model.ErrTooLarge, t.TaskID, len(b), model.MaxTaskBytes)
	}
	return b, nil
}

// taskBatches cuts tasks (encoded as encs) into runs that fit one
// transaction: at most MaxBatch operations and MaxQueueTxnBytes bytes.
func (s *Store) taskBatches(encs [][]byte) [][2]int {
	var out [][2]int
	start, bytes := 0, 0
	for i, b := range encs {
		if i > start && (i-start >= s.maxBatch || bytes+len(b) > s.MaxQueueTxnBytes()) {
			out = append(out, [2]int{start, i})
			start, bytes = i, 0
		}
		bytes += len(b) + 128
	}
	if start < len(encs) {
		out = append(out, [2]int{start, len(encs)})
	}
	return out
}

func encodeTasks(tasks []*model.Task) ([][]byte, error) {
	encs := make([][]byte, len(tasks))
	for i, t := range tasks {
		b, err := encodeTask(t)
		if err != nil {
			return nil, err
		}
		encs[i] = b
	}
	return encs, nil
}

// tooBig reports an etcd refusal of a transaction's size, which splitting
// the batch cures.
func tooBig(err error) bool {
	return errors.Is(err, rpctypes.ErrRequestTooLarge) || errors.Is(err, rpctypes.ErrGRPCRequestTooLarge) ||
		errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrGRPCTooManyOps)
}
