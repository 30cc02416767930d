package awsproto

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ForwardedHeader marks a request one replica forwarded to another, so it
// is never forwarded twice (no loops while ownership moves).
const ForwardedHeader = "X-Orch-Forwarded"

// ForwardedForHeader carries, on a forwarded request, the address of the
// client that sent it to the forwarding replica; ForwardedAuthHeader proves
// that a replica set it ("UNIXSECONDS:MAC", the MAC keyed with the key the
// replicas share, see SetReplicaKey). The owner trusts the address only
// when the proof checks (ClientAddr), so a client cannot choose the address
// the audit log records for it.
const (
	ForwardedForHeader  = "X-Orch-Forwarded-For"
	ForwardedAuthHeader = "X-Orch-Forwarded-Auth"
)

// forwardedForMaxAge bounds how old a forwarded request's proof may be
// (replicas' clocks may differ a little; a forward takes milliseconds).
const forwardedForMaxAge = 5 * time.Minute

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
	// replicaKey signs the client's address on forwarded requests (nil:
	// the address is not passed on).
	replicaKey []byte
}

// SetReplicaKey sets the key the replicas share (derived from the secrets
// key) with which a forwarded request carries its client's address to the
// owner. Call it before serving.
func (f *Forwarder) SetReplicaKey(key []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replicaKey = key
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
	// Whatever a client sent in these headers is dropped; the owner gets
	// the address this replica saw, signed, so its audit log names the
	// client rather than this replica.
	r2.Header.Del(ForwardedForHeader)
	r2.Header.Del(ForwardedAuthHeader)
	f.mu.Lock()
	key := f.replicaKey
	f.mu.Unlock()
	if key != nil {
		addr := remoteHost(r)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		r2.Header.Set(ForwardedForHeader, addr)
		r2.Header.Set(ForwardedAuthHeader, ts+":"+forwardedMAC(key, addr, ts, r))
	}
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

// ClientAddr is the address of the client that sent r: the one a replica
// forwarding r vouched for (ForwardedForHeader, proven with key, at most
// forwardedForMaxAge old), else r's own remote host. Without key (nil) or
// a valid proof the header is ignored: clients cannot set it.
func ClientAddr(r *http.Request, key []byte, now time.Time) string {
	addr, proof := r.Header.Get(ForwardedForHeader), r.Header.Get(ForwardedAuthHeader)
	if key == nil || addr == "" || proof == "" || net.ParseIP(addr) == nil {
		return remoteHost(r)
	}
	ts, mac, ok := strings.Cut(proof, ":")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return remoteHost(r)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > forwardedForMaxAge || age < -forwardedForMaxAge {
		return remoteHost(r)
	}
	if !hmac.Equal([]byte(mac), []byte(forwardedMAC(key, addr, ts, r))) {
		return remoteHost(r)
	}
	return addr
}

// forwardedMAC binds the client's address to the request it came with
// (method, host and URI) and a time, so a proof seen once cannot vouch
// for another request later.
func forwardedMAC(key []byte, addr, ts string, r *http.Request) string {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{"orch-forwarded-for/v1", addr, ts, r.Method, r.Host, r.URL.RequestURI()} {
		m.Write([]byte(part))
		m.Write([]byte{'\n'})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// remoteHost is r's peer address without its port.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
