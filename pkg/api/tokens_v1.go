package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/orch-project/orch/pkg/auth"
)

// NewToken returns a random token with a readable prefix.
func NewToken(prefix string) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *core) newJoinToken(w http.ResponseWriter, r *http.Request) {
	tok := NewToken("orchjoin_")
	if err := s.cfg.Tokens.PutToken(r.Context(), tok, auth.RoleJoin, "join"); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok})
}
