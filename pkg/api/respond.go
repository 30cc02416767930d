package api

import "net/http"

// WriteJSON and WriteError answer a /v1 request the way every route of
// this package does, for routes that features outside it add.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteError maps err to a status and a JSON error body (see writeError).
func WriteError(w http.ResponseWriter, err error) { writeError(w, err) }
