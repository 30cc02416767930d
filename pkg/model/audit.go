package model

import "time"

// AuditEntry is one write to the cluster (GET /v1/audit, orch audit): who
// (the token's name and id), what (method, path, object), when and how it
// ended. It never holds a secret: bodies are not recorded.
type AuditEntry struct {
	// ID orders entries (time, then a random suffix); the API pages by it.
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	TokenID string    `json:"tokenId,omitempty"`
	Role    string    `json:"role,omitempty"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	// Action is the AWS protocol call ("sqs:CreateQueue") for writes made
	// through the AWS APIs, whose Actor is the signing access key id.
	Action string `json:"action,omitempty"`
	// TaskRole and Task say whose temporary credentials signed an AWS
	// call (the task's role ARN and the task id).
	TaskRole string `json:"taskRole,omitempty"`
	Task     string `json:"task,omitempty"`
	// Object is what the write was about when the path does not say
	// (the task definition registered, the token created).
	Object string `json:"object,omitempty"`
	Status int    `json:"status"`
	// Outcome is "ok", "denied" (403) or "failed" (any other error).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	Remote  string `json:"remote,omitempty"`
}

// Audit outcomes.
const (
	AuditOK     = "ok"
	AuditDenied = "denied"
	AuditFailed = "failed"
)

// TokenMeta describes a stored token (orch token ls): never the token,
// which only its holder knows (only its hash is stored). Role is an
// auth.Role ("admin", "deployer", "viewer", "agent" for join tokens).
type TokenMeta struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	CreatedBy string     `json:"createdBy,omitempty"`
}

// AccessKeyMeta describes an admin AWS access key (orch aws-key ls), with
// IAM's ListAccessKeys field names: never its secret.
type AccessKeyMeta struct {
	AccessKeyId string     `json:"AccessKeyId"`
	Status      string     `json:"Status"` // AccessKeyActive or AccessKeyInactive
	CreateDate  *time.Time `json:"CreateDate,omitempty"`
	CreatedBy   string     `json:"CreatedBy,omitempty"`
}

// An access key's states, as IAM names them: an Inactive key is refused
// until it is made Active again.
const (
	AccessKeyActive   = "Active"
	AccessKeyInactive = "Inactive"
)

// MaxAdminAccessKeys is how many admin access keys may exist at once
// (Active or Inactive), as IAM allows a user: enough to rotate without
// downtime (the new key works before the old one is removed).
const MaxAdminAccessKeys = 2
