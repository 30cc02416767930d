package lambda

import (
	"errors"
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
)

// toWire maps a domain error to Lambda's error codes and statuses.
func toWire(err error) *awsproto.Error {
	return awsproto.ServiceAuthError(asWire(err))
}

func asWire(err error) *awsproto.Error {
	return awsproto.AsError(err, func(err error) *awsproto.Error {
		e := func(code string, status int) *awsproto.Error {
			return &awsproto.Error{Code: code, Status: status, Message: err.Error()}
		}
		switch {
		case errors.Is(err, model.ErrNotFound):
			return e("ResourceNotFoundException", http.StatusNotFound)
		case errors.Is(err, model.ErrConflict):
			return e("ResourceConflictException", http.StatusConflict)
		case errors.Is(err, model.ErrInvalid):
			return e("InvalidParameterValueException", http.StatusBadRequest)
		case errors.Is(err, function.ErrThrottled):
			out := e("TooManyRequestsException", http.StatusTooManyRequests)
			if te, ok := errors.AsType[*function.ThrottleError](err); ok {
				out.Reason = te.Reason
			}
			return out
		case errors.Is(err, function.ErrPayloadTooLarge):
			return e("RequestTooLargeException", http.StatusRequestEntityTooLarge)
		case errors.Is(err, function.ErrNoAgents):
			return &awsproto.Error{Code: "ServiceException", Status: http.StatusServiceUnavailable,
				Message: "No agent that runs functions is connected to this server: start orchlet (with Docker) on a host, or check `orch get nodes`"}
		case errors.Is(err, function.ErrAgentLost), errors.Is(err, function.ErrBadFrame):
			return e("ServiceException", http.StatusBadGateway)
		case errors.Is(err, model.ErrOutcomeUnknown), errors.Is(err, model.ErrNotLeader):
			return e("ServiceException", http.StatusServiceUnavailable)
		}
		return nil
	})
}
