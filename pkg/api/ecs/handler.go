// Package ecs serves the Amazon ECS API on Orch's endpoint: AWS JSON 1.1
// (POST /, X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Action>,
// SigV4 with the service name "ecs"), so that `aws ecs --endpoint-url`,
// boto3 and aws-sdk-go-v2 work against Orch unchanged.
//
// It is a second door onto the objects /v1 serves: every action calls the
// same domain (pkg/controller's TaskDefs, Tasks, Services and Nodes)
// through the narrow interfaces in backends.go, in model terms. One table
// (actions) maps each action to a small handler that decodes its input,
// calls the domain and builds ECS's output (shapes.go). Domain errors
// (model.ErrNotFound, model.ErrInvalid with field errors, ...) become ECS's
// codes with HTTP 400 (errors.go); List* actions page with opaque tokens
// (paginate.go).
//
// Orch has one cluster, "default": an ECS cluster name or ARN other than
// that is ClusterNotFoundException. Container instances are Orch's nodes,
// named by the node name (arn:aws:ecs:REGION:ACCOUNT:container-instance/default/NODE).
//
// Mounting (Handler is an awsproto.Adapter):
//
//	h := ecs.NewHandler(ecs.Backends{...}, verifier, logger)
//	if h.Claims(r) { h.ServeHTTP(w, r) }
package ecs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
)

// MaxBodyBytes bounds a request body (ECS bounds a task definition at 64 KiB).
const MaxBodyBytes = 1 << 20

// TargetPrefix is the X-Amz-Target prefix of every ECS action.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113."

// The JSON 1.1 dialect; __type carries the bare code ("ClientException"),
// as ECS sends it.
var dialect = awsproto.JSONDialect{Version: "1.1"}

// Handler serves the ECS API.
type Handler struct {
	b      Backends
	verify awsproto.Verifier
	log    *slog.Logger
}

// NewHandler returns the ECS endpoint. verify may be nil to accept unsigned
// requests (tests, or a deliberately open development server).
func NewHandler(b Backends, verify awsproto.Verifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{b: b, verify: verify, log: logger.With("component", "ecs")}
}

// IsECSRequest reports whether r is an ECS call (by its X-Amz-Target).
func IsECSRequest(r *http.Request) bool { return strings.HasPrefix(awsproto.Target(r), TargetPrefix) }

// Claims is IsECSRequest (Handler is an awsproto.Adapter).
func (h *Handler) Claims(r *http.Request) bool { return IsECSRequest(r) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	body, err := awsproto.ReadBody(r, MaxBodyBytes)
	if err != nil {
		h.fail(w, reqID, "", invalidParam("The request body is too large or unreadable: %v", err))
		return
	}
	if err := awsproto.Verify(h.verify, r, body); err != nil {
		h.fail(w, reqID, "", err)
		return
	}
	name := strings.TrimPrefix(awsproto.Target(r), TargetPrefix)
	act, ok := actions[name]
	if !ok {
		h.fail(w, reqID, name, &awsproto.Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: "The action " + name + " is not supported by Orch's ECS endpoint; see docs/ecs-api.md for the supported actions."})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	out, err := act(r.Context(), h.b, body)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the client went away
		}
		h.fail(w, reqID, name, err)
		return
	}
	dialect.WriteResult(w, reqID, out)
}

// fail logs server-side failures and writes err.
func (h *Handler) fail(w http.ResponseWriter, reqID, action string, err error) {
	e := toWire(err)
	if e.HTTPStatus() >= 500 {
		h.log.Warn("ecs request failed", "action", action, "code", e.Code, "err", err)
	}
	dialect.WriteError(w, reqID, e)
}
