package wire

import (
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// TokenRequest is POST /v1/tokens: a token for a person with a role
// ("viewer" reads; "deployer" deploys; "admin" does everything) and an
// optional lifetime ("24h", "90d"; "" never expires).
type TokenRequest struct {
	Role string `json:"role"`
	Name string `json:"name,omitempty"`
	TTL  string `json:"ttl,omitempty"`
}

// TokenResponse carries the new token, shown this once: only its hash is
// stored.
type TokenResponse struct {
	Token     string     `json:"token"`
	ID        string     `json:"id,omitempty"`
	Role      string     `json:"role"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// TokenList is GET /v1/tokens: every person's and join token, without
// secrets.
type TokenList struct {
	Tokens []model.TokenMeta `json:"tokens"`
}

// AuditList is GET /v1/audit: entries newest first; NextToken continues.
type AuditList struct {
	Entries   []model.AuditEntry `json:"entries"`
	NextToken string             `json:"nextToken,omitempty"`
}
