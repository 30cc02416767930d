package awsproto

import (
	"errors"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsauth"
)

// Error is an AWS error as it goes on the wire. Code is the modeled error
// name (the JSON protocols' __type suffix, REST-JSON's X-Amzn-ErrorType);
// QueryCode is what the query protocol and the x-amzn-query-error header
// carry (Code when empty). Status is the HTTP status.
type Error struct {
	Code      string
	QueryCode string
	Status    int
	Message   string
	// Reason is the REST-JSON body's Reason (Lambda's
	// TooManyRequestsException says which limit was hit); "" for none.
	Reason string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Query is the query protocol's code.
func (e *Error) Query() string {
	if e.QueryCode != "" {
		return e.QueryCode
	}
	return e.Code
}

// Fault is "Sender" for client errors (4xx) and "Receiver" for the
// server's own (5xx), as the error shapes spell it.
func (e *Error) Fault() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// HTTPStatus is e.Status, 400 when unset.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// ErrInternal is the answer to a failure that has no AWS shape.
var ErrInternal = &Error{Code: "InternalError", Status: http.StatusInternalServerError,
	Message: "We encountered an internal error. Please try again."}

// AsError returns err as a wire error: itself when it is an *Error, a
// SigV4 failure with its code, otherwise what mapErr makes of it (nil
// mapErr, or a nil answer from it: ErrInternal).
func AsError(err error, mapErr func(error) *Error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ae *awsauth.Error
	if errors.As(err, &ae) {
		return &Error{Code: ae.Code, Status: ae.Status, Message: ae.Message}
	}
	if mapErr != nil {
		if e := mapErr(err); e != nil {
			return e
		}
	}
	return ErrInternal
}

// serviceAuthCodes are the codes Lambda, ECS and Application Auto Scaling
// (the JSON and REST-JSON services; SQS's JSON protocol keeps the query
// protocol's codes) answer a failed signature check with, where the query
// protocols (SQS, SNS, STS) say InvalidClientTokenId and so on. The stock
// SDKs surface the code as the error's code, so scripts match on them.
var serviceAuthCodes = map[string]string{
	"InvalidClientTokenId":       "UnrecognizedClientException",
	"SignatureDoesNotMatch":      "InvalidSignatureException",
	"ExpiredToken":               "ExpiredTokenException",
	"IncompleteSignature":        "IncompleteSignatureException",
	"MissingAuthenticationToken": "MissingAuthenticationTokenException",
}

// ServiceAuthError turns a SigV4 failure's code into the one Lambda, ECS
// and Application Auto Scaling use (UnrecognizedClientException for an
// unknown key, InvalidSignatureException, ExpiredTokenException, ...);
// any other error is returned as it is.
func ServiceAuthError(e *Error) *Error {
	if c, ok := serviceAuthCodes[e.Code]; ok {
		out := *e
		out.Code = c
		return &out
	}
	return e
}

// ServiceAuthErrorFor is ServiceAuthError for the requests of those
// services (told by X-Amz-Target or Lambda's path), e as it is otherwise.
func ServiceAuthErrorFor(r *http.Request, e *Error) *Error {
	t := Target(r)
	if strings.HasPrefix(t, "AmazonEC2ContainerServiceV20141113.") || strings.HasPrefix(t, "AnyScaleFrontendService.") || IsLambda(r) {
		return ServiceAuthError(e)
	}
	return e
}

// IsLambda reports whether r is a call of Lambda's REST-JSON API (its
// paths start with the API version, e.g. /2015-03-31/functions).
func IsLambda(r *http.Request) bool {
	p := r.URL.Path
	return len(p) > 12 && p[0] == '/' && p[5] == '-' && p[8] == '-' && p[11] == '/' && strings.Trim(p[1:5], "0123456789") == ""
}
