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
