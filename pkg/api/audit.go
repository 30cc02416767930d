package api

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// AuditLog records every write to /v1 and serves GET /v1/audit.
type AuditLog interface {
	Record(e model.AuditEntry)
	List(ctx context.Context, actor string, limit int, after string) ([]model.AuditEntry, string, error)
}

type callerKey struct{}

// caller is what the request wrapper knows about a request for the
// handlers and the audit log: who called, and what the write was about
// when the path does not say (set by the handler with noteObject).
type caller struct {
	id     auth.Identity
	object string
}

// Caller returns who made the request (authenticated by Server.Handle).
func Caller(ctx context.Context) (auth.Identity, bool) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok {
		return auth.Identity{}, false
	}
	return c.id, true
}

// noteObject names what a write was about, for the audit log (e.g. the
// task definition revision registered by a POST).
func noteObject(r *http.Request, object string) {
	if c, ok := r.Context().Value(callerKey{}).(*caller); ok {
		c.object = object
	}
}

// audited says whether a route's calls go to the audit log: every write
// by a person, an agent's registration and certificate renewal; not
// reads, not an agent's own heartbeats, status reports or nonces (machine traffic on its own node),
// and not the message data plane (sending, receiving, publishing), whose
// volume would drown the changes an audit is for.
func audited(method string, role auth.Role, pattern string) bool {
	if method == http.MethodGet || method == http.MethodHead {
		return false
	}
	if role == auth.RoleNode {
		// A node's certificate renewal issues a credential, rarely (at
		// 2/3 of its lifetime, a year by default): it is recorded as its
		// registration is.
		return strings.HasSuffix(pattern, "/certificate")
	}
	for _, s := range []string{"/v1/agent/nonce", "/messages", "/receive", "/publish"} {
		if strings.HasSuffix(pattern, s) {
			return false
		}
	}
	return true
}

// auditEntry builds the entry for a finished request.
func auditEntry(r *http.Request, c *caller, rw *statusWriter) model.AuditEntry {
	e := model.AuditEntry{
		Actor: c.id.Name, TokenID: c.id.ID, Role: string(c.id.Role),
		Method: r.Method, Path: r.URL.Path, Object: c.object, Status: rw.status, Outcome: model.AuditOK,
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Remote = host
	}
	switch {
	case rw.status == http.StatusForbidden:
		e.Outcome = model.AuditDenied
	case rw.status >= 400:
		e.Outcome = model.AuditFailed
	}
	if rw.status >= 400 {
		var we wire.Error
		if json.Unmarshal(rw.errBody.Bytes(), &we) == nil && we.Message != "" {
			e.Error = truncate(we.Message, 300)
		} else {
			e.Error = strconv.Itoa(rw.status)
		}
	}
	return e
}

// awsAuditEntry builds the entry for a finished AWS protocol call whose
// signature was verified (the note names its action): calls refused
// before that are not recorded, as anonymous /v1 calls are not.
func awsAuditEntry(r *http.Request, n *awsproto.AuditNote, rw *statusWriter) model.AuditEntry {
	e := model.AuditEntry{
		Actor: n.KeyID, Role: n.Role, TaskRole: n.RoleArn, Task: n.TaskID,
		Method: r.Method, Path: r.URL.Path, Action: n.Action, Status: rw.status, Outcome: model.AuditOK,
	}
	if e.Actor == "" {
		e.Actor = "anonymous" // an SNS confirmation by its token alone, or a development server that checks no signatures
	}
	if n.Resource != "*" {
		e.Object = n.Resource
	}
	e.Remote = n.Remote
	switch {
	case rw.status == http.StatusForbidden:
		e.Outcome = model.AuditDenied
	case rw.status >= 400:
		e.Outcome = model.AuditFailed
	}
	if rw.status >= 400 {
		e.Error = strconv.Itoa(rw.status)
		if m := awsErrorMessage(rw.errBody.Bytes()); m != "" {
			e.Error = truncate(m, 300)
		}
	}
	return e
}

// awsErrorMessage finds the message of an AWS error answer: JSON
// ({"message": ...} or {"Message": ...}) or query-protocol XML
// (<Message>...</Message>).
func awsErrorMessage(b []byte) string {
	var j struct {
		Lower string `json:"message"`
		Upper string `json:"Message"`
	}
	if json.Unmarshal(b, &j) == nil {
		return j.Lower + j.Upper
	}
	_, rest, ok := bytes.Cut(b, []byte("<Message>"))
	if !ok {
		return ""
	}
	msg, _, _ := bytes.Cut(rest, []byte("</Message>"))
	return html.UnescapeString(string(msg))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// errCapture keeps the start of an error response for the audit log.
type errCapture struct{ bytes.Buffer }

func (c *errCapture) keep(status int, b []byte) {
	if status < 400 || c.Len() >= 1024 {
		return
	}
	if room := 1024 - c.Len(); len(b) > room {
		b = b[:room]
	}
	c.Write(b)
}

// listAudit serves GET /v1/audit?limit=N&nextToken=ID&actor=NAME, newest
// first (admin only).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Audit == nil {
		writeError(w, &apiError{http.StatusNotFound, "NotFound", "this server keeps no audit log"})
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, &model.FieldError{Path: "limit", Message: "must be a number from 1 to 1000, got " + strconv.Quote(v)})
			return
		}
		limit = n
	}
	entries, next, err := s.cfg.Audit.List(r.Context(), q.Get("actor"), limit, q.Get("nextToken"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.AuditList{Entries: entries, NextToken: next})
}
