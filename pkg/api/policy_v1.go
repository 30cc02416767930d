package api

import (
	"context"
	"net/http"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// ClusterPolicies reads and sets the cluster policy (what task definitions
// may ask of a host).
type ClusterPolicies interface {
	Get(ctx context.Context) (model.ClusterPolicy, error)
	Set(ctx context.Context, p model.ClusterPolicy) (model.ClusterPolicy, error)
}

// policyFeature serves /v1/policy: anyone who may read may see the rules
// (deployers need to know them); only admins change them.
type policyFeature struct{ p ClusterPolicies }

// PolicyFeature returns the feature serving the cluster policy.
func PolicyFeature(p ClusterPolicies) Feature { return policyFeature{p} }

func (f policyFeature) Routes(r Routes) {
	r.Handle("GET /v1/policy", auth.RoleViewer, f.get)
	r.Handle("PUT /v1/policy", auth.RoleAdmin, f.set)
}

func (policyFeature) Kinds() []Kind { return nil }

func (f policyFeature) get(w http.ResponseWriter, r *http.Request) {
	p, err := f.p.Get(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": p})
}

// set replaces the whole policy (PUT semantics: a field left out is
// empty or false, so `orch policy set` sends the full policy).
func (f policyFeature) set(w http.ResponseWriter, r *http.Request) {
	var in model.ClusterPolicy
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	p, err := f.p.Set(r.Context(), in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": p})
}
