package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// ---- task definitions

func (s *core) registerTaskDef(w http.ResponseWriter, r *http.Request) {
	var td model.TaskDefinition
	if err := decode(w, r, &td); err != nil {
		writeError(w, err)
		return
	}
	stored, created, err := s.cfg.TaskDefinitions.Register(r.Context(), &td)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"taskDefinition": stored, "created": created})
}

func (s *core) listTaskDefs(w http.ResponseWriter, r *http.Request) {
	tds, err := s.cfg.TaskDefinitions.List(r.Context(), r.URL.Query().Get("family"))
	if err != nil {
		writeError(w, err)
		return
	}
	if tds == nil {
		tds = []*model.TaskDefinition{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinitions": tds})
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

// ---- tasks

func (s *core) runTasks(w http.ResponseWriter, r *http.Request) {
	var in model.RunTaskInput
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	tasks, err := s.cfg.Tasks.Run(r.Context(), in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"tasks": tasks})
}

func (s *core) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := model.TaskFilter{Family: q.Get("family"), Group: q.Get("group"), Node: q.Get("node"),
		DesiredStatus: q.Get("desiredStatus"), LastStatus: q.Get("lastStatus"), StartedBy: q.Get("startedBy")}
	tasks := s.cfg.Tasks.List(f)
	if tasks == nil {
		tasks = []*model.Task{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
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

func (s *core) deleteTask(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Tasks.Delete(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": r.PathValue("id")})
}

// ---- nodes

// publicNode hides the agent's callback secret.
func publicNode(v model.NodeView) model.NodeView {
	v.CallbackToken = ""
	return v
}

func (s *core) listNodes(w http.ResponseWriter, r *http.Request) {
	nodes := s.cfg.Nodes.List()
	out := make([]model.NodeView, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, publicNode(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out})
}

func (s *core) getNode(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Nodes.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	tasks := s.cfg.Tasks.List(model.TaskFilter{Node: n.Name})
	writeJSON(w, http.StatusOK, map[string]any{"node": publicNode(*n), "tasks": tasks})
}

func (s *core) setNodeStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := s.cfg.Nodes.SetStatus(r.Context(), r.PathValue("name"), status)
		if err != nil {
			writeError(w, err)
			return
		}
		n.CallbackToken = ""
		writeJSON(w, http.StatusOK, map[string]any{"node": n})
	}
}

func (s *core) deleteNode(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Nodes.Delete(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": r.PathValue("name")})
}

// ---- tokens

// NewToken returns a random token with a readable prefix.
func NewToken(prefix string) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *core) newJoinToken(w http.ResponseWriter, r *http.Request) {
	tok := NewToken("orchjoin_")
	if err := s.cfg.Tokens.PutToken(r.Context(), tok, auth.RoleJoin, "join"); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok})
}
