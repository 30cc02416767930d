// Package lambda serves the AWS Lambda API (REST-JSON, SigV4 service
// "lambda") on Orch's endpoint, for the stock SDKs and CLIs: functions
// (Create/Get/List/Delete, UpdateFunctionCode, UpdateFunctionConfiguration,
// concurrency, tags), Invoke (RequestResponse, Event, DryRun) and event
// source mappings, each authorized as the action its route names (see
// routes.go); /v1/functions for the orch CLI; the Function and
// EventSourceMapping manifest kinds; and the agents' invocation stream. It
// decodes, calls pkg/function and encodes; the mapping from domain errors
// to Lambda's codes is in errors.go.
package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
)

// MaxBodyBytes bounds a request body: a 6 MB payload and some room (a
// larger one is RequestTooLargeException).
const MaxBodyBytes = model.SyncMaxPayload + 64<<10

var dialect = awsproto.RESTJSONDialect{}

var errTooLarge = &awsproto.Error{Code: "RequestTooLargeException", Status: http.StatusRequestEntityTooLarge,
	Message: "Request must be smaller than 6291456 bytes for the InvokeFunction operation"}

// Handler serves the Lambda API.
type Handler struct {
	svc    *function.Service
	verify awsproto.Verifier
	authz  awsproto.Authorizer
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewHandler returns the Lambda API handler. verify checks signatures
// (nil: unsigned requests are accepted, for tests); WithAuthorizer adds
// the policy check of every call.
func NewHandler(svc *function.Service, verify awsproto.Verifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{svc: svc, verify: verify, log: logger.With("component", "lambda")}
	m := http.NewServeMux()
	for _, rt := range routes {
		m.HandleFunc(rt.pattern, h.action(rt))
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		dialect.WriteError(w, awsproto.NewRequestID(), &awsproto.Error{Code: "ResourceNotFoundException", Status: http.StatusNotFound,
			Message: "Orch's Lambda API does not serve " + r.Method + " " + r.URL.Path + ": see docs/functions.md for the supported actions"})
	})
	h.mux = m
	return h
}

// WithAuthorizer makes h check every call as lambda:<Action> on the ARN
// of the function it acts on (or "*"), against the caller's policies.
func (h *Handler) WithAuthorizer(a awsproto.Authorizer) *Handler {
	h.authz = a
	return h
}

// IsLambdaRequest reports whether r is a Lambda API call (path-routed).
func IsLambdaRequest(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/2015-03-31/functions") || strings.HasPrefix(p, "/2015-03-31/event-source-mappings") ||
		strings.HasPrefix(p, "/2017-10-31/functions/") || strings.HasPrefix(p, "/2019-09-30/functions/") ||
		strings.HasPrefix(p, "/2017-03-31/tags/")
}

// Claims reports whether r is a Lambda API call.
func (h *Handler) Claims(r *http.Request) bool { return IsLambdaRequest(r) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// call is one decoded request: its id, body and the function it acts on.
type call struct {
	r     *http.Request
	reqID string
	body  []byte
	// name is the function the call acts on, resolved from the path (or
	// the body) before the call was authorized on its ARN: handlers use
	// it, never the raw path value.
	name string
}

func (c *call) decode(v any) error {
	if len(c.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return &awsproto.Error{Code: "InvalidRequestContentException", Status: http.StatusBadRequest,
			Message: "Could not parse request body into json: " + err.Error()}
	}
	return nil
}

// answer is an action's result: a status and a JSON body (nil: none; a
// writeAnswer writes the whole answer itself, as Invoke's does).
type answer struct {
	status int
	body   any
}

type writeAnswer func(w http.ResponseWriter)

// action runs the prelude (read the body, verify the signature, resolve
// and authorize what the call acts on) and writes what rt.serve returns.
func (h *Handler) action(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.prelude(w, r, rt)
		if !ok {
			return
		}
		a, err := rt.serve(h, r.Context(), c)
		if err != nil {
			h.fail(w, c.reqID, err)
			return
		}
		if write, ok := a.body.(writeAnswer); ok {
			write(w)
			return
		}
		if a.body == nil {
			w.Header().Set("x-amzn-RequestId", c.reqID)
			w.WriteHeader(a.status)
			return
		}
		dialect.WriteResult(w, c.reqID, a.status, a.body)
	}
}

func (h *Handler) prelude(w http.ResponseWriter, r *http.Request, rt route) (*call, bool) {
	c := &call{r: r, reqID: awsproto.NewRequestID()}
	if r.ContentLength > MaxBodyBytes {
		// Read what the client sends before answering: a client still
		// sending when the answer comes would find its next request on
		// this connection taken for the rest of this body.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 16<<20))
		w.Header().Set("Connection", "close")
		h.fail(w, c.reqID, errTooLarge)
		return nil, false
	}
	body, err := awsproto.ReadBody(r, MaxBodyBytes)
	if errors.Is(err, awsproto.ErrBodyTooLarge) {
		w.Header().Set("Connection", "close")
		h.fail(w, c.reqID, errTooLarge)
		return nil, false
	}
	if err != nil {
		h.fail(w, c.reqID, &awsproto.Error{Code: "InvalidRequestContentException", Status: http.StatusBadRequest, Message: err.Error()})
		return nil, false
	}
	c.body = body
	if err := awsproto.Verify(h.verify, r, body); err != nil {
		h.fail(w, c.reqID, err)
		return nil, false
	}
	resource, err := rt.resource(c)
	if err != nil {
		h.fail(w, c.reqID, err)
		return nil, false
	}
	err = awsproto.Authorize(h.authz, r, "lambda:"+rt.action, resource, nil)
	var denied *awsproto.AccessDenied
	if errors.As(err, &denied) {
		err = &awsproto.Error{Code: "AccessDeniedException", Status: http.StatusForbidden, Message: denied.Message}
	}
	if err != nil {
		h.fail(w, c.reqID, err)
		return nil, false
	}
	return c, true
}

func (h *Handler) fail(w http.ResponseWriter, reqID string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	e := toWire(err)
	if e.HTTPStatus() >= 500 {
		h.log.Warn("lambda request failed", "code", e.Code, "err", err)
	}
	dialect.WriteError(w, reqID, e)
}
