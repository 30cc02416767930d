package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// NewToken returns a random token with a readable prefix.
func NewToken(prefix string) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *core) newJoinToken(w http.ResponseWriter, r *http.Request) {
	prefix := s.cfg.JoinTokenPrefix
	if prefix == "" {
		prefix = "orchjoin_"
	}
	tok := NewToken(prefix)
	if err := s.cfg.Tokens.PutToken(r.Context(), tok, auth.RoleJoin, "join"); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok})
}

// TokenAdmin is the token management a TokenStore may offer: when it does,
// the server serves POST/GET /v1/tokens and DELETE /v1/tokens/{ref}.
type TokenAdmin interface {
	CreateToken(ctx context.Context, tok string, role auth.Role, name, createdBy string, expiresAt *time.Time) (string, error)
	ListTokens(ctx context.Context) ([]model.TokenMeta, error)
	RevokeToken(ctx context.Context, ref string) (model.TokenMeta, error)
}

// maxTokenTTL bounds a token's lifetime; longer-lived credentials are
// the ones that leak unnoticed.
const maxTokenTTL = 5 * 365 * 24 * time.Hour

// ParseTTL reads a token lifetime: a Go duration ("12h", "90m") or days
// ("30d"); "" means the token never expires.
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > maxTokenTTL {
		return 0, fmt.Errorf("must be a positive duration up to 5 years such as 24h or 30d, got %q", s)
	}
	return d, nil
}

// createToken mints a token for a person: POST /v1/tokens
// {"role":"deployer","name":"ci","ttl":"24h"} (admin only). Only its hash
// is stored, so the answer is the one time the token is shown.
func (s *Server) createToken(ta TokenAdmin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in wire.TokenRequest
		if err := decode(w, r, &in); err != nil {
			writeError(w, err)
			return
		}
		role, err := auth.ParseUserRole(in.Role)
		if err != nil {
			writeError(w, &model.FieldError{Path: "role", Message: err.Error()})
			return
		}
		ttl, err := ParseTTL(in.TTL)
		if err != nil {
			writeError(w, &model.FieldError{Path: "ttl", Message: err.Error()})
			return
		}
		if len(in.Name) > 128 {
			writeError(w, &model.FieldError{Path: "name", Message: "must be at most 128 bytes"})
			return
		}
		name := in.Name
		if name == "" {
			name = string(role)
		}
		var expires *time.Time
		if ttl > 0 {
			t := time.Now().UTC().Add(ttl).Truncate(time.Second)
			expires = &t
		}
		by, _ := Caller(r.Context())
		tok := NewToken("orch" + string(role)[:3] + "_")
		id, err := ta.CreateToken(r.Context(), tok, role, name, by.Name, expires)
		if err != nil {
			writeError(w, err)
			return
		}
		noteObject(r, fmt.Sprintf("token %s (%s, role %s)", id, name, role))
		writeJSON(w, http.StatusCreated, wire.TokenResponse{Token: tok, ID: id, Role: string(role), Name: name, ExpiresAt: expires})
	}
}

func (s *Server) listTokens(ta TokenAdmin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		toks, err := ta.ListTokens(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, wire.TokenList{Tokens: toks})
	}
}

// revokeToken deletes a token by id, unique id prefix or name. This
// replica forgets it at once; the others within the token cache's 5 s.
func (s *Server) revokeToken(ta TokenAdmin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, err := ta.RevokeToken(r.Context(), r.PathValue("ref"))
		if err != nil {
			writeError(w, err)
			return
		}
		s.tokens.forget(m.ID)
		noteObject(r, fmt.Sprintf("token %s (%s, role %s)", m.ID, m.Name, m.Role))
		writeJSON(w, http.StatusOK, map[string]any{"revoked": m})
	}
}
