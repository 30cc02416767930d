package server

import (
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/sns"
)

// awsBodyBytes bounds the request bodies all AWS protocol calls hold at
// once: eight full-size (8 MiB) bodies, or hundreds of ordinary ones.
// Beyond it a caller gets 503 with Retry-After instead of the server
// growing without bound (issue 12: 300 unsigned 8 MB POSTs took 2.2 GB).
const awsBodyBytes = 64 << 20

// awsGate is the gate before every AWS protocol: a request whose SigV4
// headers name no known key, or a date out of range, is refused before
// its body is read.
func awsGate(keys *awsKeys) *awsproto.Gate {
	precheck := func(r *http.Request) error {
		if sns.IsSubscribeURL(r) {
			return nil // the token in the URL is the credential; the body is empty
		}
		return keys.v.Precheck(r)
	}
	return &awsproto.Gate{Precheck: precheck, Bytes: awsproto.NewByteLimiter(awsBodyBytes), MaxBody: 8 << 20}
}
