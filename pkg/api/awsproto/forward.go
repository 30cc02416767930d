package awsproto

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
)

// ForwardedHeader marks a request one replica forwarded to another, so it
// is never forwarded twice (no loops while ownership moves).
const ForwardedHeader = "X-Orch-Forwarded"

// Owner is the domain side of forwarding: whether this replica serves the
// data itself and, if not, which one does (pkg/queue's Broker is one).
type Owner interface {
	Owned() bool
	// OwnerURL is the owning replica's advertised URL; "" when unknown.
	OwnerURL(ctx context.Context) (string, error)
	// SelfURL is this replica's advertised URL.
	SelfURL() string
}

// Forwarder sends requests to the replica that owns their data, Host and
// body unchanged so that URLs in answers and SigV4 signatures stay valid.
type Forwarder struct {
	owner Owner
	log   *slog.Logger
	// fail answers a request that could not be forwarded, in the
	// adapter's protocol.
	fail func(w http.ResponseWriter, r *http.Request)

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy
	// transport reaches the other replicas (nil: http.DefaultTransport);
	// with TLS it trusts the cluster CA (SetTransport).
	transport http.RoundTripper
}

// SetTransport sets how requests reach the other replicas: a server
// serving TLS passes one trusting its cluster CA. Call it before serving.
func (f *Forwarder) SetTransport(rt http.RoundTripper) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transport = rt
	f.proxies = map[string]*httputil.ReverseProxy{}
}

// NewForwarder returns a Forwarder to owner's replicas; fail writes the
// adapter's "service unavailable" answer when the owner cannot be reached.
func NewForwarder(owner Owner, logger *slog.Logger, fail func(w http.ResponseWriter, r *http.Request)) *Forwarder {
	if logger == nil {
		logger = slog.Default()
	}
	return &Forwarder{owner: owner, log: logger, fail: fail, proxies: map[string]*httputil.ReverseProxy{}}
}

// ForwardIfNotOwner forwards r to the owning replica when this one does
// not own the data and r was not forwarded already; it reports whether it
// answered r.
func (f *Forwarder) ForwardIfNotOwner(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if f.owner.Owned() || r.Header.Get(ForwardedHeader) != "" {
		return false
	}
	u, _ := f.owner.OwnerURL(r.Context())
	if u == "" || u == f.owner.SelfURL() {
		return false
	}
	f.Forward(w, r, body, u)
	return true
}

// ForwardToOwner forwards r to the current owner, if one is known and r
// was not forwarded already (after the domain answered "not the owner");
// it reports whether it answered r.
func (f *Forwarder) ForwardToOwner(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if r.Header.Get(ForwardedHeader) != "" {
		return false
	}
	u, _ := f.owner.OwnerURL(r.Context())
	if u == "" {
		return false
	}
	f.Forward(w, r, body, u)
	return true
}

// ForwardTo forwards r to the replica at ownerURL, which the domain named
// as the owner of what r asks for (a queue shard), unless r was forwarded
// already or ownerURL is unknown or this replica; it reports whether it
// answered r.
func (f *Forwarder) ForwardTo(w http.ResponseWriter, r *http.Request, body []byte, ownerURL string) bool {
	if ownerURL == "" || ownerURL == f.owner.SelfURL() || r.Header.Get(ForwardedHeader) != "" {
		return false
	}
	f.Forward(w, r, body, ownerURL)
	return true
}

// Forward sends r, with body, to the replica at ownerURL and copies its
// answer to w.
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, body []byte, ownerURL string) {
	px, err := f.proxy(ownerURL)
	if err != nil {
		f.log.Warn("the owner's advertised URL does not parse; cannot forward", "owner", ownerURL, "err", err)
		f.fail(w, r)
		return
	}
	if n := Note(r); n != nil {
		n.Forwarded = true // the owner verifies and records the call; one entry, not two
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	px.ServeHTTP(w, r2)
}

func (f *Forwarder) proxy(ownerURL string) (*httputil.ReverseProxy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if px := f.proxies[ownerURL]; px != nil {
		return px, nil
	}
	u, err := url.Parse(ownerURL)
	if err != nil {
		return nil, err
	}
	px := &httputil.ReverseProxy{
		Transport: f.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(ForwardedHeader, "1")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.log.Warn("forwarding a request to the owner failed", "owner", ownerURL, "err", err)
			f.fail(w, r)
		},
	}
	f.proxies[ownerURL] = px
	return px, nil
}
