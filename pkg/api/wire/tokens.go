package wire

// TokenRequest is POST /v1/tokens: a token for a person with a role
// ("viewer" reads; "admin" reads and writes).
type TokenRequest struct {
	Role string `json:"role"`
	Name string `json:"name,omitempty"`
}

// TokenResponse carries the new token; only its hash is stored.
type TokenResponse struct {
	Token string `json:"token"`
	Role  string `json:"role"`
	Name  string `json:"name"`
}
