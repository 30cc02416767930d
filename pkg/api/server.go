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

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config wires the API to the controller's services.
type Config struct {
	TaskDefs TaskDefService
	Tasks    TaskService
	Nodes    NodeService
	// Services, when set, serves /v1/services and the Service kind of apply.
	Services ServiceService
	Source   TaskSource
	Tokens   TokenStore
	Logger   *slog.Logger
	// Registry is where /metrics comes from; nil: a fresh registry.
	Registry *prometheus.Registry
	// Appliers adds manifest kinds to POST /v1/apply beyond TaskDefinition.
	Appliers map[string]Applier
	// ExtraRoutes are more admin-authenticated endpoints ("GET /v1/queues").
	ExtraRoutes map[string]http.HandlerFunc
	// AWS, when set, serves AWS protocol requests (SQS, ...) for which
	// IsAWS returns true.
	AWS   http.Handler
	IsAWS func(*http.Request) bool
	// ContainerEnv is added to every container agents start (AWS_* etc.),
	// given the address the agent used to reach the server.
	ContainerEnv func(r *http.Request) map[string]string
	// Ready reports whether the server can serve (caches filled).
	Ready func() bool
	// Leader reports whether this replica leads the controller (shown in /healthz).
	Leader func() bool
}

// Server is the HTTP front of one orch server process.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	tokens   tokenCache
	appliers map[string]Applier
	tdCache  sync.Map // "family:rev" -> *model.TaskDefinition (immutable content)

	reqs *prometheus.HistogramVec
}

// New builds the server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "api"), mux: http.NewServeMux(), appliers: map[string]Applier{}}
	s.tokens = tokenCache{store: cfg.Tokens, entries: map[string]tokenEntry{}}
	s.reqs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "orch_http_request_duration_seconds", Help: "HTTP requests by route and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	_ = cfg.Registry.Register(s.reqs)
	s.appliers["TaskDefinition"] = taskDefApplier{s.cfg.TaskDefs}
	for k, a := range cfg.Appliers {
		s.appliers[k] = a
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	admin := func(pattern string, h http.HandlerFunc) { s.handle(pattern, store.RoleAdmin, h) }
	join := func(pattern string, h http.HandlerFunc) { s.handle(pattern, store.RoleAgent, h) }
	agent := func(pattern string, h http.HandlerFunc) { s.handle(pattern, store.RoleNode, h) }

	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))

	admin("POST /v1/apply", s.apply)
	admin("POST /v1/taskdefinitions", s.registerTaskDef)
	admin("GET /v1/taskdefinitions", s.listTaskDefs)
	admin("GET /v1/taskdefinitions/{ref}", s.getTaskDef)
	admin("DELETE /v1/taskdefinitions/{ref}", s.deregisterTaskDef)

	admin("POST /v1/tasks", s.runTasks)
	admin("GET /v1/tasks", s.listTasks)
	admin("GET /v1/tasks/watch", s.watchTasks)
	admin("GET /v1/tasks/{id}", s.getTask)
	admin("POST /v1/tasks/{id}/stop", s.stopTask)
	admin("DELETE /v1/tasks/{id}", s.deleteTask)
	admin("GET /v1/tasks/{id}/logs", s.taskLogs)

	admin("GET /v1/nodes", s.listNodes)
	admin("GET /v1/nodes/{name}", s.getNode)
	admin("POST /v1/nodes/{name}/drain", s.setNodeStatus(model.NodeDraining))
	admin("POST /v1/nodes/{name}/activate", s.setNodeStatus(model.NodeActive))
	admin("DELETE /v1/nodes/{name}", s.deleteNode)

	admin("POST /v1/join-tokens", s.newJoinToken)
	for pattern, h := range s.cfg.ExtraRoutes {
		admin(pattern, h)
	}
	s.serviceRoutes()

	join("POST /v1/agent/register", s.agentRegister)
	agent("POST /v1/agent/nodes/{name}/heartbeat", s.agentHeartbeat)
	agent("GET /v1/agent/nodes/{name}/assignments", s.agentAssignments)
	agent("POST /v1/agent/nodes/{name}/status", s.agentStatus)

	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "NotFound", fmt.Sprintf("no such endpoint: %s %s (see docs/api.md)", r.Method, r.URL.Path)})
	})
}

// handle registers h behind authentication requiring role. Admin tokens
// may call everything; join tokens (store.RoleAgent) only register; a node
// token only its own node's endpoints ({name} in the pattern).
func (s *Server) handle(pattern, role string, h http.HandlerFunc) {
	route := pattern
	// Streams (assignments, followed logs) live as long as their client;
	// every other call gets a deadline, so an unreachable etcd turns into
	// a 503 instead of a request that hangs.
	streaming := strings.HasSuffix(pattern, "/assignments") || strings.HasSuffix(pattern, "/logs")
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !streaming {
			ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() { s.reqs.WithLabelValues(route, strconv.Itoa(rw.status)).Observe(time.Since(start).Seconds()) }()
		got, err := s.authenticate(r)
		if err != nil {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="orch"`)
			writeError(rw, err)
			return
		}
		if err := permit(role, got, r.PathValue("name")); err != nil {
			writeError(rw, err)
			return
		}
		h(rw, r)
	}))
}

// permit decides whether a token of identity got may call a route that
// requires role; node is the route's {name}, if any.
func permit(role string, got tokenIdentity, node string) error {
	if got.role == store.RoleAdmin {
		return nil
	}
	switch role {
	case store.RoleAdmin:
		return &apiError{http.StatusForbidden, "Forbidden", "this token may only call agent endpoints; use an admin token (orch server prints it and writes it to the client config)"}
	case store.RoleAgent: // register: join tokens
		if got.role == store.RoleAgent {
			return nil
		}
	case store.RoleNode:
		if got.role == store.RoleNode && got.name == node {
			return nil
		}
		if got.role == store.RoleAgent {
			return &apiError{http.StatusForbidden, "Forbidden", "a join token may only register a node; use the node token the registration returned"}
		}
	}
	return &apiError{http.StatusForbidden, "Forbidden", fmt.Sprintf("this token belongs to node %q and may not act for node %q", got.name, node)}
}

func (s *Server) authenticate(r *http.Request) (tokenIdentity, error) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return tokenIdentity{}, &apiError{http.StatusUnauthorized, "Unauthorized", "missing bearer token: pass --token, set ORCH_TOKEN, or use the config file orch server wrote"}
	}
	id, err := s.tokens.lookup(r.Context(), tok)
	if errors.Is(err, model.ErrNotFound) {
		return tokenIdentity{}, &apiError{http.StatusUnauthorized, "Unauthorized", "invalid token"}
	}
	if err != nil {
		return tokenIdentity{}, &apiError{http.StatusServiceUnavailable, "Unavailable", "cannot check the token: " + err.Error()}
	}
	return id, nil
}

// requestTimeout bounds non-streaming API calls (long enough for the
// largest batched writes, short enough that clients get an answer).
const requestTimeout = 20 * time.Second

// Handler is the whole endpoint: AWS protocols, /v1, /healthz, /metrics,
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
		if s.cfg.AWS != nil && s.cfg.IsAWS != nil && !strings.HasPrefix(r.URL.Path, "/v1/") && s.cfg.IsAWS(r) {
			s.cfg.AWS.ServeHTTP(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ready := s.cfg.Ready == nil || s.cfg.Ready()
	leader := s.cfg.Leader != nil && s.cfg.Leader()
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "leader": leader})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
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

// tokenIdentity is what a token stands for.
type tokenIdentity struct {
	role string
	name string // the node of a node token
}

type tokenEntry struct {
	id  tokenIdentity
	err error
	at  time.Time
}

const tokenCacheTTL = 5 * time.Second

func (c *tokenCache) lookup(ctx context.Context, tok string) (tokenIdentity, error) {
	c.mu.Lock()
	e, ok := c.entries[tok]
	c.mu.Unlock()
	if ok && time.Since(e.at) < tokenCacheTTL {
		return e.id, e.err
	}
	role, name, err := c.store.TokenInfo(ctx, tok)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return tokenIdentity{}, err // don't cache outages
	}
	id := tokenIdentity{role: role, name: name}
	c.mu.Lock()
	if len(c.entries) > 10000 {
		c.entries = map[string]tokenEntry{}
	}
	c.entries[tok] = tokenEntry{id: id, err: err, at: time.Now()}
	c.mu.Unlock()
	return id, err
}
