package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// servicesFeature serves ECS-style services: /v1/services and the Service
// kind of POST /v1/apply.
type servicesFeature struct{ svc Services }

// ServicesFeature returns the feature serving services with svc.
func ServicesFeature(svc Services) Feature { return servicesFeature{svc} }

func (s servicesFeature) Routes(r Routes) {
	deploy := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleDeployer, h) }
	viewer := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleViewer, h) }
	deploy("POST /v1/services", s.createService)
	viewer("GET /v1/services", s.listServices)
	viewer("GET /v1/services/{name}", s.getService)
	deploy("POST /v1/services/{name}/scale", s.scaleService)
	deploy("POST /v1/services/{name}/rollback", s.rollbackService)
	deploy("DELETE /v1/services/{name}", s.deleteService)
}

func (s servicesFeature) Kinds() []Kind {
	return []Kind{{Name: "Service", Applier: serviceApplier{s.svc}}}
}

func (s servicesFeature) createService(w http.ResponseWriter, r *http.Request) {
	var in model.Service
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	svc, action, err := s.svc.Apply(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if action == "created" {
		status = http.StatusCreated
	}
	writeJSON(w, status, wire.ServiceResponse{Service: svc, Action: action})
}

func (s servicesFeature) listServices(w http.ResponseWriter, r *http.Request) {
	page, err := ParsePage(r)
	if err != nil {
		writeError(w, err)
		return
	}
	svcs, err := s.svc.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if svcs == nil {
		svcs = []*model.Service{}
	}
	svcs, next := Page(svcs, func(s *model.Service) string { return s.ServiceName }, page)
	writeJSON(w, http.StatusOK, map[string]any{"services": svcs, "nextToken": next})
}

func (s servicesFeature) getService(w http.ResponseWriter, r *http.Request) {
	svc, tasks, err := s.svc.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	if tasks == nil {
		tasks = []*model.Task{}
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc, Tasks: tasks})
}

func (s servicesFeature) scaleService(w http.ResponseWriter, r *http.Request) {
	var in wire.ScaleServiceInput
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.DesiredCount == nil {
		writeError(w, &model.FieldError{Path: "desiredCount", Message: "is required"})
		return
	}
	svc, err := s.svc.Scale(r.Context(), r.PathValue("name"), *in.DesiredCount)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc})
}

func (s servicesFeature) rollbackService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.svc.Rollback(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc})
}

func (s servicesFeature) deleteService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.svc.Delete(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc})
}

// serviceApplier is the Service kind of POST /v1/apply: ECS CreateService's
// input; applying again updates the service (a new task definition
// revision starts a deployment).
type serviceApplier struct{ svc Services }

func (a serviceApplier) Decode(spec json.RawMessage) (any, error) {
	var in model.Service
	if err := strictJSON(spec, &in); err != nil {
		return nil, err
	}
	if err := a.svc.Validate(&in); err != nil {
		return nil, err
	}
	return &in, nil
}

// Check reports a task definition that is neither registered nor
// registered by a TaskDefinition document of the same apply.
func (a serviceApplier) Check(ctx context.Context, obj any, batch []wire.ApplyDocument, objs []any) error {
	in := obj.(*model.Service)
	family, rev, err := model.ParseRef(in.TaskDefinition)
	if err != nil {
		return &model.FieldError{Path: "taskDefinition", Message: err.Error()}
	}
	for i, o := range objs {
		if td, ok := o.(*model.TaskDefinition); ok && i < len(batch) && batch[i].Kind == "TaskDefinition" && td.Family == family {
			if rev == 0 {
				return nil // the apply registers it
			}
			latest, err := a.svc.CheckTaskDefinition(ctx, family)
			if err != nil && rev == 1 || err == nil && rev <= latest.Revision+1 {
				return nil
			}
		}
	}
	_, err = a.svc.CheckTaskDefinition(ctx, in.TaskDefinition)
	return err
}

func (a serviceApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	in := obj.(*model.Service)
	svc, action, err := a.svc.Apply(ctx, in)
	if err != nil {
		return wire.ApplyResult{}, err
	}
	return wire.ApplyResult{Kind: "Service", Name: svc.ServiceName, Action: action}, nil
}
