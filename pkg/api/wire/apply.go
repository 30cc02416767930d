package wire

import "encoding/json"

// ApplyRequest is POST /v1/apply: documents are validated together and
// nothing is applied unless all are valid.
type ApplyRequest struct {
	Documents []ApplyDocument `json:"documents"`
}

// ApplyDocument is one manifest document.
type ApplyDocument struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec"`
}

// ApplyResult is one line of `orch apply` output.
type ApplyResult struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"` // created, configured or unchanged
	// Ref is what was stored, e.g. "web:3" for a task definition.
	Ref string `json:"ref,omitempty"`
}

// ApplyResponse answers POST /v1/apply.
type ApplyResponse struct {
	Results []ApplyResult `json:"results"`
}
