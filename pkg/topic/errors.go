package topic

import (
	"errors"
	"fmt"
)

// Kind is what went wrong with a topic operation, independent of any wire
// protocol: pkg/api/sns maps each kind to an SNS error code and HTTP status.
type Kind int

// The error kinds; KindInternal is the zero value, so an error without a
// kind counts as the server's fault.
const (
	KindInternal         Kind = iota // a bug or a store failure; retrying may help
	KindUnavailable                  // no replica serves the topics right now; retry
	KindNotFound                     // the topic or subscription does not exist
	KindInvalidParameter             // a request parameter is missing, out of range or malformed
	KindInvalidValue                 // a message attribute is malformed (SNS's InvalidParameterValue)
	KindTooManyEntries               // a batch of more than 10 entries
	KindEmptyBatch                   // a batch of no entries
	KindDuplicateBatchID             // two batch entries share an id
	KindInvalidBatchID               // a batch entry id of the wrong shape
	KindBatchTooLong                 // a batch whose messages together are too large
	KindNoSuchResource               // a tagged resource that does not exist
	KindTagLimit                     // more than 50 tags
)

var kindNames = [...]string{
	KindInternal: "internal error", KindUnavailable: "unavailable", KindNotFound: "not found",
	KindInvalidParameter: "invalid parameter", KindInvalidValue: "invalid parameter value",
	KindTooManyEntries: "too many batch entries", KindEmptyBatch: "empty batch",
	KindDuplicateBatchID: "duplicate batch entry id", KindInvalidBatchID: "invalid batch entry id",
	KindBatchTooLong: "batch too long", KindNoSuchResource: "no such resource", KindTagLimit: "tag limit exceeded",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// ClientFault reports whether errors of this kind are the caller's to fix.
func (k Kind) ClientFault() bool { return k != KindInternal && k != KindUnavailable }

// Error is a topic operation's failure: its kind and a message in the
// wording SNS clients know.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return "topic: " + e.Kind.String() + ": " + e.Message }

// Is matches errors of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// With returns a copy of e with a formatted message.
func (e *Error) With(format string, args ...any) *Error {
	return &Error{Kind: e.Kind, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors, one per kind, with SNS's default message.
var (
	ErrTopicNotFound    = &Error{KindNotFound, "Topic does not exist"}
	ErrSubNotFound      = &Error{KindNotFound, "Subscription does not exist"}
	ErrInvalidParameter = &Error{KindInvalidParameter, "Invalid parameter"}
	ErrInvalidValue     = &Error{KindInvalidValue, "Invalid parameter value"}
	ErrTooManyEntries   = &Error{KindTooManyEntries, "The batch request contains more entries than permissible."}
	ErrEmptyBatch       = &Error{KindEmptyBatch, "The batch request doesn't contain any entries."}
	ErrDuplicateBatchID = &Error{KindDuplicateBatchID, "Two or more batch entries in the request have the same Id."}
	ErrInvalidBatchID   = &Error{KindInvalidBatchID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."}
	ErrBatchTooLong     = &Error{KindBatchTooLong, "The length of all the messages put together is more than the limit."}
	ErrNoSuchResource   = &Error{KindNoSuchResource, "Resource does not exist"}
	ErrTagLimit         = &Error{KindTagLimit, "Could not complete request: tag quota of per resource exceeded"}
	ErrInternal         = &Error{KindInternal, "We encountered an internal error. Please try again."}
	ErrUnavailable      = &Error{KindUnavailable, "The topic service is not available on this server right now; retry."}
)

// invalid is InvalidParameter with SNS's "Invalid parameter: " prefix.
func invalid(format string, args ...any) *Error {
	return ErrInvalidParameter.With("Invalid parameter: "+format, args...)
}

// ErrNotOwner is returned by a Service on a replica that does not own the
// topics (the queue owner does); the HTTP layer forwards such requests.
var ErrNotOwner = errors.New("topic: this server does not own the topics")

// AsError returns err as a topic error: itself when it is one, ErrNotOwner
// as KindUnavailable, anything else as ErrInternal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrNotOwner) {
		return ErrUnavailable
	}
	return ErrInternal
}

// KindOf is the kind of err (KindInternal when it is not a topic error).
func KindOf(err error) Kind { return AsError(err).Kind }
