package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
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

// newUserToken mints a token for a person: POST /v1/tokens
// {"role":"viewer","name":"alice"} (admin only). Only its hash is stored,
// so the answer is the one time the token is shown.
func (s *core) newUserToken(w http.ResponseWriter, r *http.Request) {
	var in wire.TokenRequest
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	role, err := auth.ParseUserRole(in.Role)
	if err != nil {
		writeError(w, badRequest("role: %v", err))
		return
	}
	name := in.Name
	if name == "" {
		name = string(role)
	}
	tok := NewToken("orch" + string(role)[:3] + "_")
	if err := s.cfg.Tokens.PutToken(r.Context(), tok, role, name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.TokenResponse{Token: tok, Role: string(role), Name: name})
}
