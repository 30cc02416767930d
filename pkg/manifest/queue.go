package manifest

import (
	"errors"

	"github.com/orch-project/orch/pkg/model"
)

// KindQueue is the manifest kind of queues: the shape of SQS CreateQueue
// (QueueName, Attributes, tags).
const KindQueue = "Queue"

// QueueKind reads queues (pkg/queue serves them; pkg/api/sqs applies them).
var QueueKind = Kind{Name: KindQueue, Decode: decodeQueue}

func decodeQueue(b *Body) (any, string, error) {
	var s model.QueueSpec
	if err := b.Decode(&s, nil); err != nil {
		return nil, s.QueueName, err
	}
	if err := s.Validate(); err != nil {
		var fes model.FieldErrors
		if errors.As(err, &fes) {
			return nil, s.QueueName, fes
		}
		return nil, s.QueueName, err
	}
	return &s, s.QueueName, nil
}
