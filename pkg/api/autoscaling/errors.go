package autoscaling

import (
	"errors"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

func validation(msg string) *awsproto.Error {
	return &awsproto.Error{Code: "ValidationException", Status: http.StatusBadRequest, Message: msg}
}

func notFound(msg string) *awsproto.Error {
	return &awsproto.Error{Code: "ObjectNotFoundException", Status: http.StatusBadRequest, Message: msg}
}

// toWire maps domain errors to the API's codes: invalid input (with its
// field paths) is ValidationException, a missing object
// ObjectNotFoundException, a lost race ConcurrentUpdateException.
func toWire(err error) *awsproto.Error {
	switch {
	case errors.Is(err, model.ErrInvalid):
		return validation(err.Error())
	case errors.Is(err, model.ErrNotFound):
		return notFound(notFoundMessage(err))
	case errors.Is(err, model.ErrConflict):
		return &awsproto.Error{Code: "ConcurrentUpdateException", Status: http.StatusBadRequest, Message: err.Error()}
	}
	return &awsproto.Error{Code: "InternalServiceException", Status: http.StatusInternalServerError, Message: "internal error; see the server log"}
}

// notFoundMessage turns the store's "scaling policy p of service s: model:
// not found" into "scaling policy p of service s does not exist".
func notFoundMessage(err error) string {
	msg, cut := strings.CutSuffix(err.Error(), ": "+model.ErrNotFound.Error())
	if !cut || msg == "" {
		return err.Error()
	}
	return msg + " does not exist"
}
