package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

const (
	sessionCookie = "orch_session"
	loginCookie   = "orch_login"
	// recheckEvery: a session re-checks its token this often, so a
	// revoked token stops working in the dashboard too.
	recheckEvery = time.Minute
)

// session is one sign-in. It lives in this server's memory only; the
// cookie holds the random id, never the token.
type session struct {
	id      string
	csrf    string
	viewer  Viewer
	token   string // kept in memory to re-check; never written anywhere
	expires time.Time
	checked time.Time
}

type sessions struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(ttl time.Duration) *sessions { return &sessions{ttl: ttl, m: map[string]*session{}} }

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *sessions) create(v Viewer, token string) *session {
	now := time.Now()
	ss := &session{id: randomID(), csrf: randomID(), viewer: v, token: token, expires: now.Add(s.ttl), checked: now}
	s.mu.Lock()
	s.m[ss.id] = ss
	s.mu.Unlock()
	return ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil || time.Now().After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *sessions) expire(now time.Time) {
	s.mu.Lock()
	for id, ss := range s.m {
		if now.After(ss.expires) {
			delete(s.m, id)
		}
	}
	s.mu.Unlock()
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// signedIn serves h to a signed-in session; others go to the sign-in
// page (pages) or get 401 (the event stream, form posts).
func (u *UI) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ss *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			ss = u.sess.get(c.Value)
		}
		if ss != nil && time.Since(ss.checked) > recheckEvery {
			v, err := u.cfg.Authenticate(r.Context(), ss.token)
			switch {
			case errors.Is(err, model.ErrNotFound):
				u.sess.drop(ss.id)
				ss = nil
			case err == nil:
				ss.viewer, ss.checked = v, time.Now()
			}
		}
		if ss == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/ui/events" && !strings.HasSuffix(r.URL.Path, "/logs") {
				http.Redirect(w, r, "/ui/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in at /ui/login first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if got := r.PostFormValue("csrf"); subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) != 1 {
				http.Error(w, "this form is stale or was not sent by the dashboard (missing or wrong csrf field): reload the page and try again", http.StatusForbidden)
				return
			}
		}
		if r.Method == http.MethodGet && r.Header.Get("X-UI-Fragment") == "1" {
			fr, mine := u.frags.claim(u.hub.generation(), r.URL.RequestURI())
			if fr != nil && !mine && fr.b != nil {
				writeHTML(w, http.StatusOK, fr.b)
				return
			}
			if mine {
				cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
				defer func() { fr.fill(cw.keep()) }()
				w = cw
			}
		}
		h(w, r, ss)
	}
}

// captureWriter keeps a copy of a successful fragment for the requests
// that wait for it.
type captureWriter struct {
	http.ResponseWriter
	status int
	buf    []byte
}

func (c *captureWriter) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *captureWriter) Write(b []byte) (int, error) {
	c.buf = append(c.buf, b...)
	return c.ResponseWriter.Write(b)
}
func (c *captureWriter) keep() []byte {
	if c.status != http.StatusOK {
		return nil
	}
	return c.buf
}

// writer lets only roles that may write through.
func (u *UI) writer(h func(http.ResponseWriter, *http.Request, *session)) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
		if u.cfg.Audit != nil {
			defer func() {
				e := model.AuditEntry{Actor: ss.viewer.Name, TokenID: ss.viewer.TokenID, Role: ss.viewer.Role,
					Method: r.Method, Path: r.URL.Path, Object: "dashboard", Status: cw.status, Outcome: model.AuditOK}
				switch {
				case cw.status == http.StatusForbidden:
					e.Outcome = model.AuditDenied
				case cw.status >= 400:
					e.Outcome = model.AuditFailed
					e.Error = strings.TrimSpace(string(cw.buf[:min(len(cw.buf), 300)]))
				}
				u.cfg.Audit(e)
			}()
		}
		if !ss.viewer.CanWrite {
			http.Error(cw, "your token's role ("+ss.viewer.Role+") may only look; sign in with a deployer or admin token to change the cluster", http.StatusForbidden)
			return
		}
		h(cw, r, ss)
	}
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	u.renderLogin(w, r, http.StatusOK, "")
}

func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomID()
	setCookie(w, r, loginCookie, nonce, 600)
	u.render(w, r, status, "login", map[string]any{"Nonce": nonce, "Error": msg, "Next": safeNext(r.FormValue("next"))})
}

// login checks the token as the API does and starts a session. The form
// carries a nonce that must match a cookie set with it (login CSRF).
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("nonce"))) != 1 {
		u.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired or was not sent by this page; try again.")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" {
		u.renderLogin(w, r, http.StatusBadRequest, "Token: paste a token (orch server printed the admin token; orch token create --role viewer mints a read-only one).")
		return
	}
	v, err := u.cfg.Authenticate(r.Context(), tok)
	if errors.Is(err, model.ErrNotFound) {
		u.renderLogin(w, r, http.StatusUnauthorized, "Token: not a valid admin or viewer token.")
		return
	}
	if err != nil {
		u.renderLogin(w, r, http.StatusServiceUnavailable, "Cannot check the token right now: "+err.Error())
		return
	}
	ss := u.sess.create(v, tok)
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, ss.id, int(u.cfg.SessionTTL.Seconds()))
	u.log.Info("dashboard sign-in", "name", v.Name, "role", v.Role)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	u.sess.drop(ss.id)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps redirects after sign-in inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/ui/login") {
		return "/ui/fleet"
	}
	return next
}
