package ui

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Config wires the dashboard.
type Config struct {
	Backend      Backend
	Authenticate Authenticate
	Logger       *slog.Logger
	// CoalesceWindow: changes within it become one event (default 100 ms).
	CoalesceWindow time.Duration
	// QueueSampleEvery: how often queue counts are sampled for the charts
	// (default 2 s); QueueHistory samples are kept per queue (default 90).
	QueueSampleEvery time.Duration
	QueueHistory     int
	// SessionTTL: how long a sign-in lasts (default 12 h).
	SessionTTL time.Duration
	// Audit records the dashboard's writes (scale, rollback) in the
	// cluster's audit log, as the API records its own; nil: not recorded.
	Audit func(model.AuditEntry)
}

// UI is the dashboard: an http.Handler for /ui/ and its live-update hub.
type UI struct {
	cfg   Config
	log   *slog.Logger
	tmpl  map[string]*template.Template
	mux   *http.ServeMux
	hub   *hub
	sess  *sessions
	frags fragments
	start time.Time

	// tdEnv caches the environment values of task definition revisions
	// ("family:revision" -> []string); a revision never changes.
	tdEnv sync.Map

	qmu     sync.Mutex
	qhist   map[string][]queueSample
	qlatest []wire.QueueView
	qerr    error
	// tlatest is the last topics sample (taken with the queues'); the
	// Topics page and the Queues page's "fed by" read it.
	tlatest []wire.TopicView
	terr    error
	// fsig is the functions' figures at the last sample: a change
	// (an invocation, an environment started or stopped, a mapping
	// changed) is sent to the Functions pages.
	fsig string
}

// New builds the dashboard; call Run for live updates.
func New(cfg Config) *UI {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CoalesceWindow <= 0 {
		cfg.CoalesceWindow = 100 * time.Millisecond
	}
	if cfg.QueueSampleEvery <= 0 {
		cfg.QueueSampleEvery = 2 * time.Second
	}
	if cfg.QueueHistory <= 0 {
		cfg.QueueHistory = 90
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	u := &UI{cfg: cfg, log: cfg.Logger.With("component", "ui"), hub: newHub(cfg.CoalesceWindow),
		sess: newSessions(cfg.SessionTTL), qhist: map[string][]queueSample{}, start: time.Now()}
	u.tmpl = parseTemplates()
	u.routes()
	return u
}

// Notify tells open pages that objects of kind changed. It never blocks
// (call it from a cache subscription's filter).
func (u *UI) Notify(kind string) { u.hub.notify(kind) }

// Clients is the number of open live connections.
func (u *UI) Clients() int { return u.hub.clients() }

// Run fans out changes and samples the queues until ctx ends.
func (u *UI) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { u.hub.run(ctx) })
	tick := time.NewTicker(u.cfg.QueueSampleEvery)
	defer tick.Stop()
	u.sampleQueues(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			u.sampleQueues(ctx)
			u.sess.expire(time.Now())
		}
	}
}

func (u *UI) sampleQueues(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	qs, err := u.cfg.Backend.Queues(qctx)
	cancel()
	now := time.Now()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ts, terr := u.cfg.Backend.Topics(tctx)
	cancel()
	u.qmu.Lock()
	changed := (err == nil) != (u.qerr == nil) || !sameCounts(qs, u.qlatest)
	tchanged := (terr == nil) != (u.terr == nil) || !sameTopics(ts, u.tlatest)
	u.qlatest, u.qerr = qs, err
	u.tlatest, u.terr = ts, terr
	seen := map[string]bool{}
	for _, q := range qs {
		seen[q.Name] = true
		h := append(u.qhist[q.Name], queueSample{At: now, Visible: q.Visible, InFlight: q.InFlight, Delayed: q.Delayed, OldestAge: q.OldestAgeSeconds})
		if len(h) > u.cfg.QueueHistory {
			h = h[len(h)-u.cfg.QueueHistory:]
		}
		u.qhist[q.Name] = h
	}
	for n := range u.qhist {
		if !seen[n] {
			delete(u.qhist, n)
		}
	}
	u.qmu.Unlock()
	if changed {
		u.Notify(KindQueues)
	}
	if tchanged {
		u.Notify(KindTopics)
	}
	u.sampleFunctions(ctx)
}

func (u *UI) routes() {
	m := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	static := http.StripPrefix("/ui/assets/", http.FileServer(http.FS(assets)))
	m.Handle("GET /ui/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		static.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /ui/login", u.loginPage)
	m.HandleFunc("POST /ui/login", u.login)
	m.HandleFunc("POST /ui/logout", u.signedIn(u.logout))
	m.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/fleet", http.StatusSeeOther) })
	m.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/fleet", http.StatusSeeOther) })
	m.HandleFunc("GET /ui/events", u.signedIn(u.events))
	m.HandleFunc("GET /ui/fleet", u.signedIn(u.fleet))
	m.HandleFunc("GET /ui/nodes/{name}", u.signedIn(u.node))
	m.HandleFunc("GET /ui/services", u.signedIn(u.services))
	m.HandleFunc("GET /ui/services/{name}", u.signedIn(u.service))
	m.HandleFunc("POST /ui/services/{name}/scale", u.signedIn(u.writer(u.scale)))
	m.HandleFunc("POST /ui/services/{name}/rollback", u.signedIn(u.writer(u.rollback)))
	m.HandleFunc("GET /ui/tasks", u.signedIn(u.tasks))
	m.HandleFunc("GET /ui/tasks/{id}", u.signedIn(u.task))
	m.HandleFunc("GET /ui/tasks/{id}/logs", u.signedIn(u.logs))
	m.HandleFunc("GET /ui/queues", u.signedIn(u.queues))
	m.HandleFunc("GET /ui/topics", u.signedIn(u.topics))
	m.HandleFunc("GET /ui/functions", u.signedIn(u.functions))
	m.HandleFunc("GET /ui/functions/{name}", u.signedIn(u.function))
	m.HandleFunc("GET /ui/cluster", u.signedIn(u.cluster))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page: "+r.Method+" "+r.URL.Path+" (start at /ui/fleet)", http.StatusNotFound)
	})
	u.mux = m
}

// ServeHTTP serves /ui and everything below it, with security headers:
// no framing, no inline script, same-origin everything.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	u.mux.ServeHTTP(w, r)
}

// nav is the order of the sections in the top bar.
var nav = []struct{ Path, Title string }{
	{"/ui/fleet", "Fleet"},
	{"/ui/services", "Services"},
	{"/ui/tasks", "Tasks"},
	{"/ui/queues", "Queues"},
	{"/ui/topics", "Topics"},
	{"/ui/functions", "Functions"},
	{"/ui/cluster", "Cluster"},
}

func sameCounts(a, b []wire.QueueView) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.Visible != y.Visible || x.InFlight != y.InFlight || x.Delayed != y.Delayed ||
			x.OldestAgeSeconds != y.OldestAgeSeconds || x.DeadLetterQueue != y.DeadLetterQueue {
			return false
		}
	}
	return true
}

// sameTopics: the same topics, subscriptions, states and counters (a
// change in any of them is a change the Topics page shows).
func sameTopics(a, b []wire.TopicView) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || len(x.Subscriptions) != len(y.Subscriptions) {
			return false
		}
		for j := range x.Subscriptions {
			s, t := x.Subscriptions[j], y.Subscriptions[j]
			if s.Arn != t.Arn || s.State != t.State || s.Delivered != t.Delivered || s.Failures != t.Failures ||
				s.DeadLettered != t.DeadLettered || s.Pending != t.Pending || s.Dropped != t.Dropped {
				return false
			}
		}
	}
	return true
}
