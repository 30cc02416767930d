package queue

import (
	"errors"
	"fmt"
)

// Kind is what went wrong with a queue operation, independent of any wire
// protocol: pkg/api/sqs maps each kind to an SQS error code, a query error
// code and an HTTP status; the /v1 API and topic deliveries use the kind
// directly.
type Kind int

// The error kinds. KindInternal is the zero value so that an error without a
// kind is treated as the server's fault.
const (
	KindInternal               Kind = iota // a bug or a store failure; retrying may help
	KindUnavailable                        // no replica serves the queues right now; retry
	KindNoSuchQueue                        // the named queue does not exist
	KindQueueExists                        // the queue exists with other attributes
	KindQueueDeletedRecently               // a queue of that name was deleted less than a minute ago
	KindUnknownAttribute                   // an attribute name the queue does not have
	KindInvalidAttribute                   // an attribute value out of range or malformed
	KindInvalidParameter                   // a request parameter out of range or malformed
	KindMissingParameter                   // a required request parameter is absent
	KindInvalidMessageContents             // characters outside the allowed set
	KindInvalidReceiptHandle               // a receipt handle that does not decode for this queue
	KindNotInFlight                        // the message of a receipt handle is not in flight
	KindPurgeInProgress                    // a purge ran less than a minute ago
	KindOverLimit                          // too many messages in flight
	KindTooManyEntries                     // a batch of more than 10 entries
	KindEmptyBatch                         // a batch of no entries
	KindDuplicateBatchID                   // two batch entries share an id
	KindInvalidBatchID                     // a batch entry id of the wrong shape
	KindBatchTooLong                       // a batch whose messages together are too large
	KindUnsupported                        // an operation Orch does not offer
	KindNoSuchResource                     // a move task or its source does not exist
)

var kindNames = [...]string{
	KindInternal: "internal error", KindUnavailable: "unavailable", KindNoSuchQueue: "no such queue",
	KindQueueExists: "queue exists", KindQueueDeletedRecently: "queue deleted recently",
	KindUnknownAttribute: "unknown attribute", KindInvalidAttribute: "invalid attribute",
	KindInvalidParameter: "invalid parameter", KindMissingParameter: "missing parameter",
	KindInvalidMessageContents: "invalid message contents", KindInvalidReceiptHandle: "invalid receipt handle",
	KindNotInFlight: "message not in flight", KindPurgeInProgress: "purge in progress", KindOverLimit: "over limit",
	KindTooManyEntries: "too many batch entries", KindEmptyBatch: "empty batch", KindDuplicateBatchID: "duplicate batch entry id",
	KindInvalidBatchID: "invalid batch entry id", KindBatchTooLong: "batch too long", KindUnsupported: "unsupported operation",
	KindNoSuchResource: "no such resource",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// ClientFault reports whether errors of this kind are the caller's to fix
// (as opposed to the server's).
func (k Kind) ClientFault() bool { return k != KindInternal && k != KindUnavailable }

// Error is a queue operation's failure: its kind and a message for the
// caller (the messages follow the wording SQS clients know).
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return "queue: " + e.Kind.String() + ": " + e.Message }

// Is matches errors of the same kind, so errors.Is(err, ErrQueueDoesNotExist)
// holds for every "no such queue" error whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// With returns a copy of e with a formatted message.
func (e *Error) With(format string, args ...any) *Error {
	return &Error{Kind: e.Kind, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors, one per kind, with the default message of each.
var (
	ErrQueueDoesNotExist        = &Error{KindNoSuchQueue, "The specified queue does not exist."}
	ErrQueueNameExists          = &Error{KindQueueExists, "A queue already exists with the same name and a different value for attribute(s)."}
	ErrQueueDeletedRecently     = &Error{KindQueueDeletedRecently, "You must wait 60 seconds after deleting a queue before you can create another queue with the same name."}
	ErrInvalidAttributeName     = &Error{KindUnknownAttribute, "Unknown Attribute."}
	ErrInvalidAttributeValue    = &Error{KindInvalidAttribute, "Invalid attribute value."}
	ErrInvalidParameterValue    = &Error{KindInvalidParameter, "Invalid parameter value."}
	ErrMissingParameter         = &Error{KindMissingParameter, "A required parameter is missing."}
	ErrInvalidMessageContents   = &Error{KindInvalidMessageContents, "The message contains characters outside the allowed set."}
	ErrReceiptHandleIsInvalid   = &Error{KindInvalidReceiptHandle, "The specified receipt handle isn't valid."}
	ErrMessageNotInflight       = &Error{KindNotInFlight, "The message referred to isn't in flight."}
	ErrPurgeQueueInProgress     = &Error{KindPurgeInProgress, "Only one PurgeQueue operation on a queue is allowed every 60 seconds."}
	ErrOverLimit                = &Error{KindOverLimit, "The maximum number of in flight messages is reached."}
	ErrTooManyEntries           = &Error{KindTooManyEntries, "Maximum number of entries per request are 10."}
	ErrEmptyBatchRequest        = &Error{KindEmptyBatch, "The batch request doesn't contain any entries."}
	ErrBatchEntryIdsNotDistinct = &Error{KindDuplicateBatchID, "Two or more batch entries in the request have the same Id."}
	ErrInvalidBatchEntryID      = &Error{KindInvalidBatchID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."}
	ErrBatchRequestTooLong      = &Error{KindBatchTooLong, "The length of all the messages put together is more than the limit."}
	ErrUnsupportedOperation     = &Error{KindUnsupported, "This operation is not supported."}
	ErrResourceNotFound         = &Error{KindNoSuchResource, "The specified resource doesn't exist."}
	ErrInternal                 = &Error{KindInternal, "We encountered an internal error. Please try again."}
	ErrServiceUnavailable       = &Error{KindUnavailable, "The queue service is not available on this server right now; retry."}
)

// ErrNotOwner is returned by a Broker that does not own a queue (another
// replica does). The error is a *NotOwnerError naming the owner, and the
// HTTP layer forwards the request there (OwnerURLOf).
var ErrNotOwner = errors.New("queue: this server does not own the queues")

// NotOwnerError says which replica owns the queue asked for.
type NotOwnerError struct {
	Shard    int
	OwnerURL string
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("queue: this server does not own queue shard %d; %s does", e.Shard, e.OwnerURL)
}

// Is makes errors.Is(err, ErrNotOwner) hold.
func (e *NotOwnerError) Is(target error) bool { return target == ErrNotOwner }

// OwnerURLOf is the owner's URL carried by a NotOwnerError ("" otherwise).
func OwnerURLOf(err error) string {
	var e *NotOwnerError
	if errors.As(err, &e) {
		return e.OwnerURL
	}
	return ""
}

// AsError returns err as a queue error: itself when it is one, ErrNotOwner
// as KindUnavailable, anything else as ErrInternal (whose message does not
// repeat err: callers log err, clients get the generic text).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrNotOwner) {
		return ErrServiceUnavailable
	}
	return ErrInternal
}

// KindOf is the kind of err (KindInternal when it is not a queue error).
func KindOf(err error) Kind { return AsError(err).Kind }
