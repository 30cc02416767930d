package autoscaling

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// RESTRoutes are Orch's native endpoints for the CLI (mount behind admin
// authentication):
//
//	GET    /v1/scalabletargets[?service=S]   {"scalableTargets": [...], "nextToken"} with their activities
//	DELETE /v1/scalabletargets/{service}     deregister (its policies too)
//	GET    /v1/scalingpolicies[?service=S]   {"scalingPolicies": [...], "nextToken"}
//
// Both lists page as every /v1 list does (?maxResults, ?nextToken; see
// api.ParsePage), in service (then policy) name order.
//
//	DELETE /v1/scalingpolicies/{service}/{name}
func RESTRoutes(b Backend) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/scalabletargets": func(w http.ResponseWriter, r *http.Request) {
			page, err := api.ParsePage(r)
			if err != nil {
				writeBadPage(w, err)
				return
			}
			var svcs []string
			if s := r.URL.Query().Get("service"); s != "" {
				svcs = []string{s}
			}
			ts, err := b.Targets(r.Context(), svcs...)
			ts, next := api.Page(ts, func(t *model.ScalableTarget) string { return t.ResourceId }, page)
			restWrite(w, err, map[string]any{"scalableTargets": ts, "nextToken": next})
		},
		"DELETE /v1/scalabletargets/{service}": func(w http.ResponseWriter, r *http.Request) {
			restWrite(w, b.DeregisterTarget(r.Context(), r.PathValue("service")), map[string]string{})
		},
		"GET /v1/scalingpolicies": func(w http.ResponseWriter, r *http.Request) {
			page, err := api.ParsePage(r)
			if err != nil {
				writeBadPage(w, err)
				return
			}
			ps, err := b.Policies(r.Context(), r.URL.Query().Get("service"))
			// The key's NUL keeps "svc/a" before "svc-b/a" whatever the names.
			ps, next := api.Page(ps, func(p *model.ScalingPolicy) string { return p.ResourceId + "\x00" + p.PolicyName }, page)
			restWrite(w, err, map[string]any{"scalingPolicies": ps, "nextToken": next})
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
			e, status = wire.Error{Code: "NotFound", Message: notFoundMessage(err)}, http.StatusNotFound
		case errors.Is(err, model.ErrInvalid):
			e, status = wire.Error{Code: "ValidationError", Message: err.Error()}, http.StatusBadRequest
		}
		v = e
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeBadPage answers a bad ?maxResults or ?nextToken with a 400 naming it.
func writeBadPage(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(wire.Error{Code: "BadRequest", Message: err.Error()})
}
