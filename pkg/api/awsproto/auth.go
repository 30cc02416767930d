package awsproto

import (
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsauth"
)

// Verifier checks a request's SigV4 signature against its full body
// (*awsauth.SigV4 is one); its errors carry AWS codes (see AsError).
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}

// Verify runs v on r; a nil v accepts every request (tests, or a
// deliberately open development server).
func Verify(v Verifier, r *http.Request, body []byte) error {
	if v == nil {
		return nil
	}
	return v.Verify(r, body)
}

// AccessKeyID is the access key id a request is signed with ("" when
// unsigned): the caller's identity, e.g. SQS's SenderId.
func AccessKeyID(r *http.Request) string { return awsauth.AccessKeyID(r) }

// Authorizer decides whether the signer of a verified request may perform
// action ("sqs:SendMessage") on resource (an ARN); resourcePolicy returns
// the resource's own Policy document ("" when it has none; called only
// when needed, as admins' keys need no policy). A refusal is an
// *AccessDenied, which each protocol writes in its own error shape.
type Authorizer interface {
	Authorize(r *http.Request, action, resource string, resourcePolicy func() string) error
}

// Authorize runs a on r; a nil a allows everything (tests, or a
// deliberately open development server).
func Authorize(a Authorizer, r *http.Request, action, resource string, resourcePolicy func() string) error {
	if a == nil {
		return nil
	}
	return a.Authorize(r, action, resource, resourcePolicy)
}

// AccessDenied is a policy's refusal; Message names the caller, the
// action and the resource, as AWS's does.
type AccessDenied struct{ Message string }

func (e *AccessDenied) Error() string { return e.Message }
