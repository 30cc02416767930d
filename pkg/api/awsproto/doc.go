// Package awsproto is what every AWS protocol adapter on Orch's endpoint
// shares: request ids, the error shapes of AWS JSON 1.0/1.1, query/XML and
// REST-JSON, telling the protocols apart (X-Amz-Target versus a form
// Action), reading a request body once, the SigV4 verification hook, and
// forwarding a request to the replica that owns what it names.
//
// An adapter (pkg/api/sqs today; SNS, which speaks query/XML, and Lambda,
// which speaks REST-JSON, next) says which requests it claims and serves
// them:
//
//	type Adapter interface {
//		Claims(r *http.Request) bool // cheap: headers, query, a sniffed form body
//		http.Handler
//	}
//
// and a typical ServeHTTP runs the same prelude before its own decoding:
//
//	reqID := awsproto.NewRequestID()
//	body, err := awsproto.ReadBody(w, r, maxBody) // the bytes Claims sniffed, not a second read
//	if err == nil {
//		err = awsproto.Verify(verifier, r, body) // SigV4, through the Verifier interface
//	}
//	if err != nil {
//		dialect.WriteError(w, reqID, awsproto.AsError(err, fallback))
//		return
//	}
//	if fwd.ForwardIfNotOwner(w, r, body) { // another replica owns the data
//		return
//	}
//	// decode the action, call the domain package, encode the result
//
// Adapters mount together: Adapters{sqsHandler, snsHandler} is itself an
// Adapter that claims what any of them claims and hands the request to the
// first that does.
//
// The package knows nothing of any one service: codes, namespaces and
// action names come from the adapter.
package awsproto
