package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// ServiceService is what the API needs of services (controller.Services).
type ServiceService interface {
	Apply(ctx context.Context, in *model.Service) (*model.Service, string, error)
	CheckTaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error)
	Scale(ctx context.Context, name string, n int) (*model.Service, error)
	Rollback(ctx context.Context, name string) (*model.Service, error)
	Delete(ctx context.Context, name string) (*model.Service, error)
	Get(ctx context.Context, name string) (*model.Service, []*model.Task, error)
	List(ctx context.Context) ([]*model.Service, error)
}

// BatchChecker is an optional Applier extension: after every document of
// an apply decoded, Check validates obj against the server's state and the
// other objects of the same apply (e.g. a Service naming a task definition
// registered by an earlier document). An error applies nothing.
type BatchChecker interface {
	Check(ctx context.Context, obj any, batch []wire.ApplyDocument, objs []any) error
}

// serviceRoutes adds the /v1/services endpoints and the Service kind of
// POST /v1/apply when the server has a service service.
func (s *Server) serviceRoutes() {
	if s.cfg.Services == nil {
		return
	}
	s.appliers["Service"] = serviceApplier{s.cfg.Services}
	admin := func(pattern string, h http.HandlerFunc) { s.handle(pattern, store.RoleAdmin, h) }
	admin("POST /v1/services", s.createService)
	admin("GET /v1/services", s.listServices)
	admin("GET /v1/services/{name}", s.getService)
	admin("POST /v1/services/{name}/scale", s.scaleService)
	admin("POST /v1/services/{name}/rollback", s.rollbackService)
	admin("DELETE /v1/services/{name}", s.deleteService)
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	var in model.Service
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	svc, action, err := s.cfg.Services.Apply(r.Context(), &in)
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

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	svcs, err := s.cfg.Services.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if svcs == nil {
		svcs = []*model.Service{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": svcs})
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	svc, tasks, err := s.cfg.Services.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	if tasks == nil {
		tasks = []*model.Task{}
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc, Tasks: tasks})
}

func (s *Server) scaleService(w http.ResponseWriter, r *http.Request) {
	var in wire.ScaleServiceInput
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.DesiredCount == nil {
		writeError(w, &model.FieldError{Path: "desiredCount", Message: "is required"})
		return
	}
	svc, err := s.cfg.Services.Scale(r.Context(), r.PathValue("name"), *in.DesiredCount)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc})
}

func (s *Server) rollbackService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.cfg.Services.Rollback(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc})
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.cfg.Services.Delete(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ServiceResponse{Service: svc})
}

// serviceApplier is the Service kind of POST /v1/apply: ECS CreateService's
// input; applying again updates the service (a new task definition
// revision starts a deployment).
type serviceApplier struct{ svc ServiceService }

func (a serviceApplier) Decode(spec json.RawMessage) (any, error) {
	var in model.Service
	if err := strictJSON(spec, &in); err != nil {
		return nil, err
	}
	if err := controller.ValidateService(&in); err != nil {
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
