package sns

import (
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/topic"
)

type snsCode struct {
	Code   string
	Status int
}

// codes maps every topic error kind to its SNS code and HTTP status (as
// in the SNS API reference and service model).
var codes = map[topic.Kind]snsCode{
	topic.KindInternal:         {"InternalError", http.StatusInternalServerError},
	topic.KindUnavailable:      {"ServiceUnavailable", http.StatusServiceUnavailable},
	topic.KindNotFound:         {"NotFound", http.StatusNotFound},
	topic.KindInvalidParameter: {"InvalidParameter", http.StatusBadRequest},
	topic.KindInvalidValue:     {"ParameterValueInvalid", http.StatusBadRequest},
	topic.KindTooManyEntries:   {"TooManyEntriesInBatchRequest", http.StatusBadRequest},
	topic.KindEmptyBatch:       {"EmptyBatchRequest", http.StatusBadRequest},
	topic.KindDuplicateBatchID: {"BatchEntryIdsNotDistinct", http.StatusBadRequest},
	topic.KindInvalidBatchID:   {"InvalidBatchEntryId", http.StatusBadRequest},
	topic.KindBatchTooLong:     {"BatchRequestTooLong", http.StatusBadRequest},
	topic.KindNoSuchResource:   {"ResourceNotFound", http.StatusNotFound},
	topic.KindTagLimit:         {"TagLimitExceeded", http.StatusBadRequest},
}

// toWire is the SNS error for err: a topic error by its kind, a wire or
// SigV4 error as it is, anything else InternalError.
func toWire(err error) *awsproto.Error {
	return awsproto.AsError(err, func(err error) *awsproto.Error {
		te := topic.AsError(err)
		c, ok := codes[te.Kind]
		if !ok {
			c = codes[topic.KindInternal]
		}
		return &awsproto.Error{Code: c.Code, Status: c.Status, Message: te.Message}
	})
}
