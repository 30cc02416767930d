package queue

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an SQS error: Code is the modeled error name (the JSON protocol's
// __type suffix), QueryCode what query clients and the x-amzn-query-error
// header carry.
type Error struct {
	Code      string
	QueryCode string
	Message   string
	Status    int
	Sender    bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches errors with the same code, so errors.Is(err, ErrQueueDoesNotExist) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e with a formatted message.
func (e *Error) With(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

func newErr(code, query string, status int, msg string) *Error {
	if query == "" {
		query = code
	}
	return &Error{Code: code, QueryCode: query, Status: status, Sender: status < 500, Message: msg}
}

// SQS errors (codes as in the SQS API reference; query codes as the query
// protocol and x-amzn-query-error send them).
var (
	ErrQueueDoesNotExist        = newErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, "The specified queue does not exist.")
	ErrQueueNameExists          = newErr("QueueNameExists", "QueueAlreadyExists", 400, "A queue already exists with the same name and a different value for attribute(s).")
	ErrQueueDeletedRecently     = newErr("QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", 400, "You must wait 60 seconds after deleting a queue before you can create another queue with the same name.")
	ErrInvalidAttributeName     = newErr("InvalidAttributeName", "", 400, "Unknown Attribute.")
	ErrInvalidAttributeValue    = newErr("InvalidAttributeValue", "", 400, "Invalid attribute value.")
	ErrInvalidParameterValue    = newErr("InvalidParameterValue", "", 400, "Invalid parameter value.")
	ErrMissingParameter         = newErr("MissingParameter", "", 400, "A required parameter is missing.")
	ErrInvalidMessageContents   = newErr("InvalidMessageContents", "", 400, "The message contains characters outside the allowed set.")
	ErrReceiptHandleIsInvalid   = newErr("ReceiptHandleIsInvalid", "", 400, "The specified receipt handle isn't valid.")
	ErrMessageNotInflight       = newErr("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400, "The message referred to isn't in flight.")
	ErrPurgeQueueInProgress     = newErr("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403, "Only one PurgeQueue operation on a queue is allowed every 60 seconds.")
	ErrOverLimit                = newErr("OverLimit", "", 403, "The maximum number of in flight messages is reached.")
	ErrTooManyEntries           = newErr("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, "Maximum number of entries per request are 10.")
	ErrEmptyBatchRequest        = newErr("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400, "The batch request doesn't contain any entries.")
	ErrBatchEntryIdsNotDistinct = newErr("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, "Two or more batch entries in the request have the same Id.")
	ErrInvalidBatchEntryID      = newErr("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
	ErrBatchRequestTooLong      = newErr("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400, "The length of all the messages put together is more than the limit.")
	ErrUnsupportedOperation     = newErr("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400, "This operation is not supported.")
	ErrResourceNotFound         = newErr("ResourceNotFoundException", "", 404, "The specified resource doesn't exist.")
	ErrInvalidAddress           = newErr("InvalidAddress", "", 404, "The specified ID is invalid.")
	ErrRequestThrottled         = newErr("RequestThrottled", "", 400, "Request throttled.")
	ErrInternal                 = newErr("InternalError", "", 500, "We encountered an internal error. Please try again.")
	ErrServiceUnavailable       = newErr("ServiceUnavailable", "", 503, "The queue service is not available on this server right now; retry.")
)

// ErrNotOwner is returned by a Service that does not own the queues (another
// replica does; see Service.Owner). The HTTP layer forwards such requests.
var ErrNotOwner = errors.New("queue: this server does not own the queues")

// AsError returns err as an SQS error (InternalError when it is not one).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal.With("%s", ErrInternal.Message)
}

// Status is the HTTP status for an error code.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}
