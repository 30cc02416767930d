package api

import (
	"net/http"
	"time"
)

// Requests in flight are limited per class, as the Kubernetes API server's
// max-requests-inflight does: clients (admin /v1 calls) share one pool,
// agents (registration, heartbeats, status reports) another, so a crowd of
// heavy clients can never starve the heartbeats that keep nodes alive.
// A request that finds its pool full waits briefly, then gets 429 with
// Retry-After. Streams (assignments, followed logs) are not counted: they
// live as long as their client.
const (
	defaultClientInflight = 64
	defaultAgentInflight  = 512
	// inflightWait is how long a request may queue for a slot.
	inflightWait = time.Second
)

type inflight chan struct{}

func newInflight(n int) inflight { return make(inflight, n) }

// acquire takes a slot, waiting at most inflightWait or until r ends.
func (l inflight) acquire(r *http.Request) bool {
	select {
	case l <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(inflightWait)
	defer t.Stop()
	select {
	case l <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-r.Context().Done():
		return false
	}
}

func (l inflight) release() { <-l }

// errTooManyRequests is the answer when a pool is full.
var errTooManyRequests = &apiError{http.StatusTooManyRequests, "TooManyRequests",
	"the server is at its limit of requests in flight; retry after the Retry-After delay (the orch CLI and Go client do)"}
