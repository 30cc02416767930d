package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/orch-project/orch/pkg/model"
)

func (s *core) registerTaskDef(w http.ResponseWriter, r *http.Request) {
	var td model.TaskDefinition
	if err := decode(w, r, &td); err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, "taskdefinition "+td.Family)
	stored, created, err := s.cfg.TaskDefinitions.Register(r.Context(), &td)
	if err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, "taskdefinition "+stored.Ref())
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"taskDefinition": stored, "created": created})
}

func (s *core) listTaskDefs(w http.ResponseWriter, r *http.Request) {
	page, err := ParsePage(r)
	if err != nil {
		writeError(w, err)
		return
	}
	tds, err := s.cfg.TaskDefinitions.List(r.Context(), r.URL.Query().Get("family"))
	if err != nil {
		writeError(w, err)
		return
	}
	if tds == nil {
		tds = []*model.TaskDefinition{}
	}
	tds, next := Page(tds, func(td *model.TaskDefinition) string { return fmt.Sprintf("%s\x00%010d", td.Family, td.Revision) }, page)
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinitions": tds, "nextToken": next})
}

func (s *core) getTaskDef(w http.ResponseWriter, r *http.Request) {
	td, err := s.cfg.TaskDefinitions.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinition": td})
}

func (s *core) deregisterTaskDef(w http.ResponseWriter, r *http.Request) {
	tds, err := s.cfg.TaskDefinitions.Deregister(r.Context(), r.PathValue("ref"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinitions": tds})
}

// taskDef returns an immutable revision, cached (only status can change,
// and agents do not need it).
func (s *core) taskDef(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	if v, ok := s.tdCache.Load(ref); ok {
		return v.(*model.TaskDefinition), nil
	}
	td, err := s.cfg.TaskDefinitions.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.tdCache.Store(ref, td)
	return td, nil
}
