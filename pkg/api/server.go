package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config wires the API to its features.
type Config struct {
	// Features are the parts of the API, in order: each adds its routes
	// and manifest kinds. The order is the order kinds are listed in.
	Features []Feature
	// Tokens authenticates every /v1 request.
	Tokens TokenStore
	Logger *slog.Logger
	// Registry is where /metrics comes from; nil: a fresh registry.
	Registry *prometheus.Registry
	// Ready reports whether the server can serve (caches filled).
	Ready func() bool
	// Leader reports whether this replica leads the controller (shown in /healthz).
	Leader func() bool
	// AWSGate stands before every AWS protocol (Protocol): it checks the
	// signature's headers before any body is read and bounds the bytes of
	// bodies in flight. Nil: requests go straight to the protocols.
	AWSGate *awsproto.Gate
	// MaxRequestsInflight bounds the client (admin and AWS) requests
	// served at once, MaxAgentRequestsInflight the agents' (see
	// inflight.go); 0: the defaults, 64 and 512.
	MaxRequestsInflight      int
	MaxAgentRequestsInflight int
	// Audit records every write (nil: none) and serves GET /v1/audit.
	Audit AuditLog
	// ReplicaKey is the key the replicas share (derived from the secrets
	// key): a forwarded AWS call whose client address is proven with it
	// is audited under that address instead of the forwarding replica's
	// (awsproto.ClientAddr). Nil: the peer's address is always used.
	ReplicaKey []byte
	// Writable is nil while the store takes writes, else why not (etcd
	// is away): /readyz answers 503, writes are refused at once with 503,
	// and reads get a short deadline (those served from caches still
	// answer). Nil func: always writable.
	Writable func() error
}

// Server is the HTTP front of one orch server process.
type Server struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	tokens    tokenCache
	appliers  map[string]Applier
	kinds     []string // in the order of the features
	protocols []protocol

	reqs *prometheus.HistogramVec

	clients, agents inflight
}

// protocol is a non-/v1 protocol (an AWS API) and the requests it claims.
type protocol struct {
	match func(*http.Request) bool
	h     http.Handler
}

// New builds the server. It panics when two features apply the same kind:
// the feature list is written in code, so that is a bug.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "api"), mux: http.NewServeMux(), appliers: map[string]Applier{}}
	if cfg.MaxRequestsInflight <= 0 {
		cfg.MaxRequestsInflight = defaultClientInflight
	}
	if cfg.MaxAgentRequestsInflight <= 0 {
		cfg.MaxAgentRequestsInflight = defaultAgentInflight
	}
	s.clients, s.agents = newInflight(cfg.MaxRequestsInflight), newInflight(cfg.MaxAgentRequestsInflight)
	s.tokens = tokenCache{store: cfg.Tokens, entries: map[string]tokenEntry{}}
	s.reqs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "orch_http_request_duration_seconds", Help: "HTTP requests by route and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	_ = cfg.Registry.Register(s.reqs)

	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	s.Handle("POST /v1/apply", auth.RoleDeployer, s.apply)
	s.Handle("GET /v1/audit", auth.RoleAdmin, s.listAudit)
	if ta, ok := cfg.Tokens.(TokenAdmin); ok {
		s.Handle("POST /v1/tokens", auth.RoleAdmin, s.createToken(ta))
		s.Handle("GET /v1/tokens", auth.RoleAdmin, s.listTokens(ta))
		s.Handle("DELETE /v1/tokens/{ref}", auth.RoleAdmin, s.revokeToken(ta))
	}
	for _, f := range cfg.Features {
		for _, k := range f.Kinds() {
			if _, dup := s.appliers[k.Name]; dup {
				panic("api: two features apply kind " + k.Name)
			}
			s.appliers[k.Name] = k.Applier
			s.kinds = append(s.kinds, k.Name)
		}
	}
	for _, f := range cfg.Features {
		f.Routes(s)
	}
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "NotFound", fmt.Sprintf("no such endpoint: %s %s (see docs/api.md)", r.Method, r.URL.Path)})
	})
	// Anything else (a browser or curl at the bare URL) gets the same JSON
	// 404 with what is served here, rather than Go's "404 page not found".
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "NotFound", fmt.Sprintf("no such endpoint: %s %s (this server answers /v1/... (docs/api.md), signed AWS requests, /healthz, /readyz, /metrics and the dashboard at /ui)", r.Method, r.URL.Path)})
	})
	return s
}

// Protocol serves the requests outside /v1/ that match with h.
func (s *Server) Protocol(match func(*http.Request) bool, h http.Handler) {
	s.protocols = append(s.protocols, protocol{match, h})
}

// Handle registers h behind authentication requiring role (auth.Permit
// decides: admin tokens may call everything, join tokens only register, a
// node token only its own node's endpoints, {name} in the pattern).
func (s *Server) Handle(pattern string, role auth.Role, h http.HandlerFunc) {
	route := pattern
	// Streams (assignments, followed logs) live as long as their client;
	// every other call gets a deadline, so an unreachable etcd turns into
	// a 503 instead of a request that hangs.
	// Function invocations (the agents' stream, orch invoke) last as long
	// as the function's timeout allows.
	streaming := strings.HasSuffix(pattern, "/assignments") || strings.HasSuffix(pattern, "/logs") ||
		strings.HasSuffix(pattern, "/invocations") || strings.HasSuffix(pattern, "/invoke")
	// Invocation results only hand an answer to the caller waiting in this
	// process's memory: refusing them while etcd is away would make every
	// running invocation wait out its timeout for nothing.
	inMemory := strings.HasSuffix(pattern, "/invocation-results") || strings.HasSuffix(pattern, "/invocations/{id}")
	pool := s.clients
	if role == auth.RoleNode || role == auth.RoleJoin {
		pool = s.agents
	}
	method, _, _ := strings.Cut(pattern, " ")
	audit := s.cfg.Audit != nil && audited(method, role, pattern)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !streaming {
			if !pool.acquire(r) {
				s.reqs.WithLabelValues(route, "429").Observe(0)
				w.Header().Set("Retry-After", "1")
				writeError(w, errTooManyRequests)
				return
			}
			defer pool.release()
			timeout := requestTimeout
			if err := s.writable(); err != nil {
				if r.Method != http.MethodGet && r.Method != http.MethodHead && !inMemory {
					rw := &statusWriter{ResponseWriter: w, status: 200}
					rw.Header().Set("Retry-After", "5")
					writeError(rw, &apiError{http.StatusServiceUnavailable, "StoreUnavailable", err.Error() + "; writes are refused until it is back (reads are served from caches), retry later"})
					s.reqs.WithLabelValues(route, "503").Observe(0)
					return
				}
				timeout = outageReadTimeout
			}
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() { s.reqs.WithLabelValues(route, strconv.Itoa(rw.status)).Observe(time.Since(start).Seconds()) }()
		got, err := s.authenticate(r)
		if err != nil {
			// Not audited: nobody is known, and recording every
			// anonymous attempt would let anyone fill the log.
			rw.Header().Set("WWW-Authenticate", `Bearer realm="orch"`)
			writeError(rw, err)
			return
		}
		c := &caller{id: got}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		if audit {
			defer func() { s.cfg.Audit.Record(auditEntry(r, c, rw)) }()
		}
		if err := auth.Permit(role, got, r.PathValue("name")); err != nil {
			writeError(rw, &apiError{http.StatusForbidden, "Forbidden", err.Error()})
			return
		}
		h(rw, r)
	}))
}

func (s *Server) authenticate(r *http.Request) (auth.Identity, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return auth.Identity{}, &apiError{http.StatusUnauthorized, "Unauthorized", "missing bearer token: pass --token, set ORCH_TOKEN, or use the config file orch server wrote"}
	}
	id, err := s.tokens.lookup(r.Context(), tok, s.writable() != nil)
	if errors.Is(err, model.ErrNotFound) {
		return auth.Identity{}, &apiError{http.StatusUnauthorized, "Unauthorized", "invalid token"}
	}
	if err != nil {
		return auth.Identity{}, &apiError{http.StatusServiceUnavailable, "Unavailable", "cannot check the token: " + err.Error()}
	}
	if id.Expired(time.Now()) {
		return auth.Identity{}, &apiError{http.StatusUnauthorized, "Unauthorized", fmt.Sprintf("token %s (%s) expired at %s; ask an admin for a new one (orch token create)", id.ID, id.Name, id.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	return id, nil
}

// outageReadTimeout bounds a read while etcd is away: one served from the
// caches answers at once, one that needs etcd fails fast.
const outageReadTimeout = 3 * time.Second

func (s *Server) writable() error {
	if s.cfg.Writable == nil {
		return nil
	}
	return s.cfg.Writable()
}

// requestTimeout bounds non-streaming API calls (long enough for the
// largest batched writes, short enough that clients get an answer).
const requestTimeout = 20 * time.Second

// Handler is the whole endpoint: the features' protocols (AWS), /v1, /healthz, /metrics,
// behind panic recovery.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeError(w, errors.New("the server hit a bug; see its log"))
			}
		}()
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			if awsproto.LooksLikeAWS(r) {
				s.serveAWS(w, r)
				return
			}
			for _, p := range s.protocols {
				if p.match(r) {
					p.h.ServeHTTP(w, r)
					return
				}
			}
		}
		s.mux.ServeHTTP(w, r)
	})
}

// serveAWS passes an AWS-shaped request through the gate to the protocol
// that claims it; one that none claims gets AWS's own error for an
// unknown operation (SDKs cannot parse a text/plain 404).
func (s *Server) serveAWS(w http.ResponseWriter, r *http.Request) {
	defer awsproto.RestoreBody(r)
	// AWS calls are not counted in the client pool: SQS consumers hold
	// long polls for up to 20 s, and what they may cost in memory is
	// bounded by the gate's bytes instead.
	if g := s.cfg.AWSGate; g != nil {
		release, err := g.Admit(r)
		if err != nil {
			awsproto.WriteError(w, r, awsproto.AsError(err, nil))
			return
		}
		defer release()
	}
	if s.cfg.Audit != nil && !awsproto.Unaudited(r) {
		var note *awsproto.AuditNote
		r, note = awsproto.WithAuditNote(r)
		note.Remote = awsproto.ClientAddr(r, s.cfg.ReplicaKey, time.Now())
		rw := &statusWriter{ResponseWriter: w, status: 200}
		w = rw
		defer func() {
			if !note.Forwarded && awsproto.Mutating(note.Action) {
				s.cfg.Audit.Record(awsAuditEntry(r, note, rw))
			}
		}()
	}
	for _, p := range s.protocols {
		if p.match(r) {
			p.h.ServeHTTP(w, r)
			return
		}
	}
	awsproto.WriteError(w, r, awsproto.UnknownOperation(r))
}

// healthz is liveness: the process serves (its caches filled). It says
// whether the store takes writes, but answers 200 either way: restarting
// a server does not bring etcd back.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ready := s.cfg.Ready == nil || s.cfg.Ready()
	leader := s.cfg.Leader != nil && s.cfg.Leader()
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "leader": leader, "writable": s.writable() == nil})
}

// readyz is readiness: 200 only when the server can serve writes (caches
// filled and etcd answering), 503 with the reason otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "the caches are still filling"})
		return
	}
	if err := s.writable(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	errBody errCapture // the start of an error answer, for the audit log
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	w.errBody.keep(w.status, b)
	return w.ResponseWriter.Write(b)
}
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tokenCache remembers token lookups briefly so each request does not cost
// an etcd read.
type tokenCache struct {
	store   TokenStore
	mu      sync.Mutex
	entries map[string]tokenEntry
}

type tokenEntry struct {
	id  auth.Identity
	err error
	at  time.Time
}

const tokenCacheTTL = 5 * time.Second

// tokenStaleMax is how long a known token stays usable while its lookups
// fail: long enough to ride out an etcd outage, short enough that a token
// deleted just before one does not live on for long.
const tokenStaleMax = 15 * time.Minute

// forget drops every cached lookup of the token with id, so a revoked
// token stops working on this replica at once (others: within
// tokenCacheTTL).
func (c *tokenCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for tok, e := range c.entries {
		if e.id.ID == id {
			delete(c.entries, tok)
		}
	}
}

// lookup resolves tok, from the cache while it is fresh; storeDown says
// etcd is known to be away, so a token known valid is taken from the
// cache without first waiting for a lookup that cannot answer.
func (c *tokenCache) lookup(ctx context.Context, tok string, storeDown bool) (auth.Identity, error) {
	c.mu.Lock()
	e, ok := c.entries[tok]
	c.mu.Unlock()
	if ok && time.Since(e.at) < tokenCacheTTL {
		return e.id, e.err
	}
	if storeDown && ok && e.err == nil && time.Since(e.at) < tokenStaleMax {
		return e.id, nil
	}
	id, err := c.store.TokenInfo(ctx, tok)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		if ok && e.err == nil && time.Since(e.at) < tokenStaleMax {
			// etcd is away: a token that was valid a moment ago stays
			// valid, so reads from the caches keep working (issue 12).
			return e.id, nil
		}
		return auth.Identity{}, err // don't cache outages
	}
	c.mu.Lock()
	if len(c.entries) > 10000 {
		c.entries = map[string]tokenEntry{}
	}
	c.entries[tok] = tokenEntry{id: id, err: err, at: time.Now()}
	c.mu.Unlock()
	return id, err
}
