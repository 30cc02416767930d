package sqs

import (
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/queue"
)

// sqsCode is how SQS spells one queue error kind: Code is the modeled
// error name (JSON __type), Query what query clients and the
// x-amzn-query-error header carry ("" means the same as Code).
type sqsCode struct {
	Code, Query string
	Status      int
}

// codes maps every queue error kind to its SQS code and HTTP status (codes
// as in the SQS API reference).
var codes = map[queue.Kind]sqsCode{
	queue.KindInternal:               {"InternalError", "", http.StatusInternalServerError},
	queue.KindUnavailable:            {"ServiceUnavailable", "", http.StatusServiceUnavailable},
	queue.KindNoSuchQueue:            {"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", http.StatusBadRequest},
	queue.KindQueueExists:            {"QueueNameExists", "QueueAlreadyExists", http.StatusBadRequest},
	queue.KindQueueDeletedRecently:   {"QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", http.StatusBadRequest},
	queue.KindUnknownAttribute:       {"InvalidAttributeName", "", http.StatusBadRequest},
	queue.KindInvalidAttribute:       {"InvalidAttributeValue", "", http.StatusBadRequest},
	queue.KindInvalidParameter:       {"InvalidParameterValue", "", http.StatusBadRequest},
	queue.KindMissingParameter:       {"MissingParameter", "", http.StatusBadRequest},
	queue.KindInvalidMessageContents: {"InvalidMessageContents", "", http.StatusBadRequest},
	queue.KindInvalidReceiptHandle:   {"ReceiptHandleIsInvalid", "", http.StatusBadRequest},
	queue.KindNotInFlight:            {"MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", http.StatusBadRequest},
	queue.KindPurgeInProgress:        {"PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", http.StatusForbidden},
	queue.KindOverLimit:              {"OverLimit", "", http.StatusForbidden},
	queue.KindTooManyEntries:         {"TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", http.StatusBadRequest},
	queue.KindEmptyBatch:             {"EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", http.StatusBadRequest},
	queue.KindDuplicateBatchID:       {"BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", http.StatusBadRequest},
	queue.KindInvalidBatchID:         {"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", http.StatusBadRequest},
	queue.KindBatchTooLong:           {"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", http.StatusBadRequest},
	queue.KindUnsupported:            {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", http.StatusBadRequest},
	queue.KindNoSuchResource:         {"ResourceNotFoundException", "", http.StatusNotFound},
}

// toWire is the SQS error for err: a queue error by its kind, a wire or
// SigV4 error as it is, anything else InternalError.
func toWire(err error) *awsproto.Error {
	return awsproto.AsError(err, func(err error) *awsproto.Error {
		qe := queue.AsError(err)
		c, ok := codes[qe.Kind]
		if !ok {
			c = codes[queue.KindInternal]
		}
		return &awsproto.Error{Code: c.Code, QueryCode: c.Query, Status: c.Status, Message: qe.Message}
	})
}

// Errors of the protocol layer, which the queue broker never sees.
func errInvalidAction(a string) error {
	return &awsproto.Error{Code: "InvalidAction", Status: http.StatusBadRequest,
		Message: "The action " + a + " is not valid for this endpoint."}
}

func errSerialization(err error) error {
	return &awsproto.Error{Code: "SerializationException", Status: http.StatusBadRequest,
		Message: "The request body is not valid JSON for this action: " + err.Error()}
}
