package awsproto

import "net/http"

// Adapter serves one AWS API on the shared endpoint.
type Adapter interface {
	// Claims reports whether r is a call of this API. It must be cheap
	// and leave r readable: headers, the URL, or FormAction's sniff.
	Claims(r *http.Request) bool
	http.Handler
}

// Adapters serve several APIs on one endpoint: a request goes to the first
// adapter that claims it.
type Adapters []Adapter

// Claims reports whether any adapter claims r.
func (as Adapters) Claims(r *http.Request) bool { return as.pick(r) != nil }

func (as Adapters) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a := as.pick(r); a != nil {
		a.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

func (as Adapters) pick(r *http.Request) Adapter {
	for _, a := range as {
		if a.Claims(r) {
			return a
		}
	}
	return nil
}
