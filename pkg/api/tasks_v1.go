package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func (s *core) runTasks(w http.ResponseWriter, r *http.Request) {
	var in model.RunTaskInput
	var raw json.RawMessage
	if err := decode(w, r, &raw); err != nil {
		writeError(w, err)
		return
	}
	if err := strictJSON(raw, &in); err != nil {
		writeError(w, err)
		return
	}
	// An explicit count of 0 is a mistake (ECS: 1 to 10), not "one task";
	// an absent count means one.
	var probe struct {
		Count *int `json:"count"`
	}
	if json.Unmarshal(raw, &probe) == nil && probe.Count != nil && *probe.Count == 0 {
		writeError(w, &model.FieldError{Path: "count", Message: "must be at least 1 (leave it out for one task)"})
		return
	}
	noteObject(r, "run "+in.TaskDefinition)
	tasks, err := s.cfg.Tasks.Run(r.Context(), in)
	if err != nil {
		writeError(w, err)
		return
	}
	ids := make([]string, 0, len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.TaskID)
	}
	noteObject(r, fmt.Sprintf("run %s: tasks %s", in.TaskDefinition, strings.Join(ids, ",")))
	writeJSON(w, http.StatusCreated, map[string]any{"tasks": tasks})
}

func (s *core) listTasks(w http.ResponseWriter, r *http.Request) {
	page, err := ParsePage(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	f := model.TaskFilter{Family: q.Get("family"), Group: q.Get("group"), Node: q.Get("node"),
		DesiredStatus: q.Get("desiredStatus"), LastStatus: q.Get("lastStatus"), StartedBy: q.Get("startedBy")}
	tasks := s.cfg.Tasks.List(f)
	if tasks == nil {
		tasks = []*model.Task{}
	}
	// Tasks.List comes newest first, so PageFunc does not sort again.
	tasks, next := PageFunc(tasks,
		func(a, b *model.Task) int { return NewestFirst(a.CreatedAt, a.TaskID, b.CreatedAt, b.TaskID) },
		func(t *model.Task) string { return NewestFirstKey(t.CreatedAt, t.TaskID) }, page)
	writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks, "nextToken": next})
}

func (s *core) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.cfg.Tasks.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": t})
}

func (s *core) stopTask(w http.ResponseWriter, r *http.Request) {
	var in wire.StopTaskInput
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			writeError(w, err)
			return
		}
	}
	id, err := s.cfg.Tasks.Resolve(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := s.cfg.Tasks.Stop(r.Context(), id, model.StopUserInitiated, in.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": t})
}

// deleteTask removes a stopped task; ?force=true removes any task's
// record (the admin path for a stuck or oversized one).
func (s *core) deleteTask(w http.ResponseWriter, r *http.Request) {
	del := s.cfg.Tasks.Delete
	if r.URL.Query().Get("force") == "true" {
		del = s.cfg.Tasks.ForceDelete
	}
	if err := del(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": r.PathValue("id")})
}
