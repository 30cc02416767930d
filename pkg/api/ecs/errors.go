package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

// ECS's error codes (the ECS API reference, "Common Errors" and each
// action's errors). Client mistakes are HTTP 400; only the server's own
// failures are 5xx.
const (
	codeClient          = "ClientException"
	codeInvalidParam    = "InvalidParameterException"
	codeServer          = "ServerException"
	codeClusterNotFound = "ClusterNotFoundException"
	codeServiceNotFound = "ServiceNotFoundException"
	codeServiceInactive = "ServiceNotActiveException"
	codeTargetNotFound  = "TargetNotFoundException"
	codeResourceMissing = "ResourceNotFoundException"
	codeSerialization   = "SerializationException"
)

func ecsErr(code, format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Code: code, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *awsproto.Error {
	return ecsErr(codeInvalidParam, format, args...)
}

func clientErr(format string, args ...any) *awsproto.Error {
	return ecsErr(codeClient, format, args...)
}

// toWire is the ECS error for err: an *awsproto.Error or SigV4 error as it
// is; the model's sentinels by kind (validation errors keep their field
// paths in the message); anything else ServerException.
func toWire(err error) *awsproto.Error {
	return awsproto.ServiceAuthError(asWire(err))
}

func asWire(err error) *awsproto.Error {
	return awsproto.AsError(err, func(err error) *awsproto.Error {
		var fes model.FieldErrors
		var fe *model.FieldError
		msg := strings.ReplaceAll(err.Error(), "model: invalid: ", "")
		switch {
		case errors.As(err, &fes), errors.As(err, &fe), errors.Is(err, model.ErrInvalid):
			return invalidParam("%s", msg)
		case errors.Is(err, model.ErrNotFound):
			return clientErr("%s", strings.ReplaceAll(msg, ": model: not found", " was not found"))
		case errors.Is(err, model.ErrConflict):
			return invalidParam("%s", strings.ReplaceAll(msg, "model: conflict: ", ""))
		case errors.Is(err, model.ErrNotLeader), errors.Is(err, context.DeadlineExceeded):
			return &awsproto.Error{Code: codeServer, Status: http.StatusServiceUnavailable,
				Message: "The control plane is busy or electing a leader; retry the request. (" + msg + ")"}
		}
		return &awsproto.Error{Code: codeServer, Status: http.StatusInternalServerError, Message: "Internal error: " + msg}
	})
}

// decodeJSON reads an action's input. Unknown fields are accepted (newer
// SDKs send fields this endpoint does not know); wrong types are
// SerializationException naming the field.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "(the request)"
			}
			return ecsErr(codeSerialization, "%s: expected %s, got JSON %s", field, te.Type, te.Value)
		}
		return ecsErr(codeSerialization, "The request body is not valid JSON: %v", err)
	}
	return nil
}

func required(field string) error {
	return invalidParam("%s is required.", field)
}
