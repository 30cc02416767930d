// Package lambda serves the AWS Lambda API (REST-JSON, SigV4 service
// "lambda") on Orch's endpoint, for the stock SDKs and CLIs: functions
// (Create/Get/List/Delete, UpdateFunctionCode, UpdateFunctionConfiguration,
// concurrency), Invoke (RequestResponse, Event, DryRun) and event source
// mappings; /v1/functions for the orch CLI; the Function and
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
	svc *function.Service
	// invoke verifies Invoke calls (any cluster key: tasks may invoke),
	// admin the management calls (admin keys only).
	invoke, admin awsproto.Verifier
	log           *slog.Logger
	mux           *http.ServeMux
}

// NewHandler returns the Lambda API handler.
func NewHandler(svc *function.Service, invoke, admin awsproto.Verifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{svc: svc, invoke: invoke, admin: admin, log: logger.With("component", "lambda")}
	m := http.NewServeMux()
	fn := "/2015-03-31/functions/{name}"
	m.HandleFunc("POST /2015-03-31/functions", h.action(h.createFunction, true))
	m.HandleFunc("GET /2015-03-31/functions/{$}", h.action(h.listFunctions, true))
	m.HandleFunc("GET /2015-03-31/functions", h.action(h.listFunctions, true))
	m.HandleFunc("GET "+fn, h.action(h.getFunction, true))
	m.HandleFunc("GET "+fn+"/configuration", h.action(h.getConfiguration, true))
	m.HandleFunc("DELETE "+fn, h.action(h.deleteFunction, true))
	m.HandleFunc("PUT "+fn+"/code", h.action(h.updateCode, true))
	m.HandleFunc("PUT "+fn+"/configuration", h.action(h.updateConfiguration, true))
	m.HandleFunc("PUT /2017-10-31/functions/{name}/concurrency", h.action(h.putConcurrency, true))
	m.HandleFunc("DELETE /2017-10-31/functions/{name}/concurrency", h.action(h.deleteConcurrency, true))
	m.HandleFunc("GET /2019-09-30/functions/{name}/concurrency", h.action(h.getConcurrency, true))
	m.HandleFunc("POST "+fn+"/invocations", h.invokeHandler)
	m.HandleFunc("POST /2015-03-31/event-source-mappings/{$}", h.action(h.createMapping, true))
	m.HandleFunc("POST /2015-03-31/event-source-mappings", h.action(h.createMapping, true))
	m.HandleFunc("GET /2015-03-31/event-source-mappings/{$}", h.action(h.listMappings, true))
	m.HandleFunc("GET /2015-03-31/event-source-mappings", h.action(h.listMappings, true))
	m.HandleFunc("GET /2015-03-31/event-source-mappings/{uuid}", h.action(h.getMapping, true))
	m.HandleFunc("PUT /2015-03-31/event-source-mappings/{uuid}", h.action(h.updateMapping, true))
	m.HandleFunc("DELETE /2015-03-31/event-source-mappings/{uuid}", h.action(h.deleteMapping, true))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		dialect.WriteError(w, awsproto.NewRequestID(), &awsproto.Error{Code: "ResourceNotFoundException", Status: http.StatusNotFound,
			Message: "Orch's Lambda API does not serve " + r.Method + " " + r.URL.Path + ": see docs/functions.md for the supported actions"})
	})
	h.mux = m
	return h
}

// IsLambdaRequest reports whether r is a Lambda API call (path-routed).
func IsLambdaRequest(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/2015-03-31/functions") || strings.HasPrefix(p, "/2015-03-31/event-source-mappings") ||
		strings.HasPrefix(p, "/2017-10-31/functions/") || strings.HasPrefix(p, "/2019-09-30/functions/")
}

// Claims reports whether r is a Lambda API call.
func (h *Handler) Claims(r *http.Request) bool { return IsLambdaRequest(r) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// call is one decoded request: its id, body and the path's values.
type call struct {
	r     *http.Request
	reqID string
	body  []byte
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

// answer is an action's result: a status and a JSON body (nil: none).
type answer struct {
	status int
	body   any
}

// action runs the prelude (read the body, verify the signature) and
// writes what fn returns.
func (h *Handler) action(fn func(ctx context.Context, c *call) (answer, error), admin bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.prelude(w, r, admin)
		if !ok {
			return
		}
		a, err := fn(r.Context(), c)
		if err != nil {
			h.fail(w, c.reqID, err)
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

func (h *Handler) prelude(w http.ResponseWriter, r *http.Request, admin bool) (*call, bool) {
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
	v := h.invoke
	if admin {
		v = h.admin
	}
	if err := awsproto.Verify(v, r, body); err != nil {
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
