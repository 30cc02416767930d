package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// maxBody bounds request bodies (task definitions are small; 1 MiB is ample).
const maxBody = 1 << 20

// apiError is an error with an HTTP status and a code for clients.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "BadRequest", fmt.Sprintf(format, args...)}
}

// writeError maps an error to a status and a JSON body. Client mistakes are
// 4xx; only unexpected failures are 500, with a message that does not leak
// internals.
func writeError(w http.ResponseWriter, err error) {
	status, code, msg := http.StatusInternalServerError, "InternalError", "internal error: "+err.Error()
	var ae *apiError
	var fe *model.FieldError
	var fes model.FieldErrors
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		status, code, msg = ae.status, ae.code, ae.msg
	case errors.As(err, &mbe):
		status, code, msg = http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("request body is over the %d byte limit", mbe.Limit)
	case errors.As(err, &fes), errors.As(err, &fe), errors.Is(err, model.ErrInvalid):
		status, code, msg = http.StatusBadRequest, "ValidationError", strings.TrimPrefix(err.Error(), "model: invalid: ")
	case errors.Is(err, model.ErrNotFound):
		status, code, msg = http.StatusNotFound, "NotFound", strings.TrimSuffix(err.Error(), ": model: not found")+": not found"
	case errors.Is(err, model.ErrNodeNameTaken):
		status, code, msg = http.StatusConflict, "NodeNameTaken", err.Error()
	case errors.Is(err, auth.ErrBadNodeProof):
		status, code, msg = http.StatusBadRequest, "InvalidNodeProof", strings.TrimPrefix(err.Error(), "auth: bad node proof: ")
	case errors.Is(err, model.ErrConflict):
		status, code, msg = http.StatusConflict, "Conflict", strings.ReplaceAll(err.Error(), "model: conflict: ", "")
	case errors.Is(err, model.ErrWrongNode):
		status, code, msg = http.StatusForbidden, "WrongNode", err.Error()
	case errors.Is(err, model.ErrNotLeader):
		status, code, msg = http.StatusServiceUnavailable, "NotLeader", err.Error()
	case errors.Is(err, model.ErrOutcomeUnknown):
		status, code, msg = http.StatusServiceUnavailable, "OutcomeUnknown", "the cluster store (etcd) did not confirm the write in time, so it may or may not have been applied: retry with the same clientToken (orch run and orch apply do), or check with orch get ("+strings.ReplaceAll(err.Error(), "model: outcome unknown: ", "")+")"
	case errors.Is(err, context.DeadlineExceeded):
		status, code, msg = http.StatusServiceUnavailable, "Unavailable", "the cluster store (etcd) did not answer in time; try again, and check that etcd is up: "+err.Error()
	}
	writeJSON(w, status, wire.Error{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly into v: unknown fields, wrong types,
// trailing data and oversized bodies are client errors with the field named.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	if err := duplicateKey(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body has data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty; send a JSON object")
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return badRequest("%s: expected %s, got JSON %s", field, te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("malformed JSON: %v", err)
}
