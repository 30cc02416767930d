// Package autoscaling serves the Application Auto Scaling API on Orch's
// endpoint: AWS JSON 1.1, POST / with X-Amz-Target
// AnyScaleFrontendService.<Action>, signed with SigV4 (signing name
// application-autoscaling), as aws-sdk-go-v2's applicationautoscaling
// client and `aws application-autoscaling` send it. One table (actions)
// maps each action to a handler that decodes its input, calls the backend
// in model terms and encodes the output; errors.go maps domain errors to
// the API's codes. Only ECS services scale (ServiceNamespace ecs,
// ScalableDimension ecs:service:DesiredCount).
//
// Mounting:
//
//	h := autoscaling.NewHandler(backend, verifier, logger)
//	if h.Claims(r) { h.ServeHTTP(w, r) }
package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

const targetPrefix = "AnyScaleFrontendService."

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

var dialect = awsproto.JSONDialect{Version: "1.1", TypePrefix: "com.amazonaws.applicationautoscaling#"}

// Backend is what the API needs from the domain (controller.Scaling).
type Backend interface {
	RegisterTarget(ctx context.Context, t *model.ScalableTarget) (*model.ScalableTarget, error)
	Targets(ctx context.Context, services ...string) ([]*model.ScalableTarget, error)
	Target(ctx context.Context, service string) (*model.ScalableTarget, error)
	DeregisterTarget(ctx context.Context, service string) error
	PutPolicy(ctx context.Context, p *model.ScalingPolicy) (*model.ScalingPolicy, error)
	Policies(ctx context.Context, service string) ([]*model.ScalingPolicy, error)
	DeletePolicy(ctx context.Context, service, name string) error
}

// Handler serves the API.
type Handler struct {
	b      Backend
	verify awsproto.Verifier
	log    *slog.Logger
}

// NewHandler returns the endpoint. verify may be nil to accept unsigned
// requests (tests only).
func NewHandler(b Backend, verify awsproto.Verifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{b: b, verify: verify, log: logger.With("component", "autoscaling")}
}

// IsRequest reports whether r is an Application Auto Scaling call.
func IsRequest(r *http.Request) bool {
	return strings.HasPrefix(awsproto.Target(r), targetPrefix)
}

// Claims is IsRequest (Handler is an awsproto.Adapter).
func (h *Handler) Claims(r *http.Request) bool { return IsRequest(r) }

type action func(ctx context.Context, b Backend, body []byte) (any, error)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	if r.Method != http.MethodPost {
		dialect.WriteError(w, reqID, validation("Application Auto Scaling requests are POST /"))
		return
	}
	body, err := awsproto.ReadBody(r, MaxBodyBytes)
	if err != nil {
		dialect.WriteError(w, reqID, validation("the request body is too large or unreadable: "+err.Error()))
		return
	}
	if err := awsproto.Verify(h.verify, r, body); err != nil {
		dialect.WriteError(w, reqID, awsproto.ServiceAuthError(awsproto.AsError(err, nil)))
		return
	}
	name := strings.TrimPrefix(awsproto.Target(r), targetPrefix)
	act, ok := actions[name]
	if !ok {
		dialect.WriteError(w, reqID, &awsproto.Error{Code: "UnknownOperationException", Message: "unknown action " + name + "; Orch serves " + actionNames()})
		return
	}
	out, err := act(r.Context(), h.b, body)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		e := awsproto.ServiceAuthError(awsproto.AsError(err, toWire))
		if e.HTTPStatus() >= 500 {
			h.log.Error("application auto scaling action failed", "action", name, "err", err)
		}
		dialect.WriteError(w, reqID, e)
		return
	}
	dialect.WriteResult(w, reqID, out)
}

// decode reads body into v; unknown fields are ignored, as AWS does, so
// newer SDKs keep working.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return validation("field " + te.Field + ": expected " + te.Type.String() + ", got " + te.Value)
		}
		return validation("the request body is not valid JSON: " + err.Error())
	}
	return nil
}
