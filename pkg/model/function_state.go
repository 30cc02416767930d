package model

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// FunctionARN is a function's ARN, as Lambda spells it.
func FunctionARN(name string) string {
	return "arn:aws:lambda:" + DefaultRegion + ":" + AccountID + ":function:" + name
}

// StoredFunction is a function as the store keeps it: the user's
// configuration (Function) and what the control plane adds to it.
type StoredFunction struct {
	Function
	FunctionArn  string    `json:"FunctionArn"`
	LastModified time.Time `json:"LastModified"`
	// RevisionId changes with every update (Lambda's RevisionId), so an
	// agent can tell a changed configuration from the one it runs.
	RevisionId string `json:"RevisionId"`
	// CodeSha256 is a digest of the image reference (Lambda's digest of
	// the code package).
	CodeSha256  string `json:"CodeSha256"`
	ModRevision int64  `json:"-"`
}

// Stamp sets the derived fields after a create or an update.
func (f *StoredFunction) Stamp(now time.Time) {
	f.FunctionArn = FunctionARN(f.FunctionName)
	f.LastModified = now.UTC()
	sum := sha256.Sum256([]byte(f.Code.ImageUri))
	f.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	b, _ := json.Marshal(f.Function)
	rev := sha256.Sum256(append(b, []byte(now.String())...))
	f.RevisionId = base64.RawURLEncoding.EncodeToString(rev[:12])
}

// StoredMapping is an event source mapping as the store keeps it.
type StoredMapping struct {
	EventSourceMapping
	FunctionArn  string    `json:"FunctionArn"`
	State        string    `json:"State"` // Enabled | Disabled
	LastModified time.Time `json:"LastModified"`
	ModRevision  int64     `json:"-"`
}

// Async invocation retry policy: Lambda's MaximumRetryAttempts default 2.
const (
	AsyncMaxAttempts = 3 // the first try and 2 retries
	AsyncMaxPayload  = 1 << 20
	SyncMaxPayload   = 6 << 20
)

// AsyncInvocation is an Event invocation, stored before the caller gets
// 202 and deleted once it succeeded or was given up (and sent to the
// on-failure destination).
type AsyncInvocation struct {
	RequestID    string    `json:"requestId"`
	FunctionName string    `json:"functionName"`
	Payload      []byte    `json:"payload"`
	Attempts     int       `json:"attempts"` // tries made so far
	NextAttempt  time.Time `json:"nextAttempt"`
	Created      time.Time `json:"created"`
	LastError    string    `json:"lastError,omitempty"`
	ModRevision  int64     `json:"-"`
}
