package autoscaling

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// RESTRoutes are Orch's native endpoints for the CLI (mount behind admin
// authentication):
//
//	GET    /v1/scalabletargets[?service=S]   {"scalableTargets": [...]} with their activities
//	DELETE /v1/scalabletargets/{service}     deregister (its policies too)
//	GET    /v1/scalingpolicies[?service=S]   {"scalingPolicies": [...]}
//	DELETE /v1/scalingpolicies/{service}/{name}
func RESTRoutes(b Backend) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/scalabletargets": func(w http.ResponseWriter, r *http.Request) {
			var svcs []string
			if s := r.URL.Query().Get("service"); s != "" {
				svcs = []string{s}
			}
			ts, err := b.Targets(r.Context(), svcs...)
			if ts == nil {
				ts = []*model.ScalableTarget{}
			}
			restWrite(w, err, map[string]any{"scalableTargets": ts})
		},
		"DELETE /v1/scalabletargets/{service}": func(w http.ResponseWriter, r *http.Request) {
			restWrite(w, b.DeregisterTarget(r.Context(), r.PathValue("service")), map[string]string{})
		},
		"GET /v1/scalingpolicies": func(w http.ResponseWriter, r *http.Request) {
			ps, err := b.Policies(r.Context(), r.URL.Query().Get("service"))
			if ps == nil {
				ps = []*model.ScalingPolicy{}
			}
			restWrite(w, err, map[string]any{"scalingPolicies": ps})
		},
		"DELETE /v1/scalingpolicies/{service}/{name}": func(w http.ResponseWriter, r *http.Request) {
			restWrite(w, b.DeletePolicy(r.Context(), r.PathValue("service"), r.PathValue("name")), map[string]string{})
		},
	}
}

func restWrite(w http.ResponseWriter, err error, v any) {
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusOK
	if err != nil {
		e := wire.Error{Code: "InternalError", Message: "internal error; see the server log"}
		status = http.StatusInternalServerError
		switch {
		case errors.Is(err, model.ErrNotFound):
			e, status = wire.Error{Code: "NotFound", Message: err.Error()}, http.StatusNotFound
		case errors.Is(err, model.ErrInvalid):
			e, status = wire.Error{Code: "ValidationError", Message: err.Error()}, http.StatusBadRequest
		}
		v = e
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
