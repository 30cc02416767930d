package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// ---- task definitions

func (s *Server) registerTaskDef(w http.ResponseWriter, r *http.Request) {
	var td model.TaskDefinition
	if err := decode(w, r, &td); err != nil {
		writeError(w, err)
		return
	}
	stored, created, err := s.cfg.TaskDefs.Register(r.Context(), &td)
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

func (s *Server) listTaskDefs(w http.ResponseWriter, r *http.Request) {
	tds, err := s.cfg.TaskDefs.List(r.Context(), r.URL.Query().Get("family"))
	if err != nil {
		writeError(w, err)
		return
	}
	if tds == nil {
		tds = []*model.TaskDefinition{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinitions": tds})
}

func (s *Server) getTaskDef(w http.ResponseWriter, r *http.Request) {
	td, err := s.cfg.TaskDefs.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinition": td})
}

func (s *Server) deregisterTaskDef(w http.ResponseWriter, r *http.Request) {
	tds, err := s.cfg.TaskDefs.Deregister(r.Context(), r.PathValue("ref"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskDefinitions": tds})
}

// taskDef returns an immutable revision, cached (only status can change,
// and agents do not need it).
func (s *Server) taskDef(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	if v, ok := s.tdCache.Load(ref); ok {
		return v.(*model.TaskDefinition), nil
	}
	td, err := s.cfg.TaskDefs.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.tdCache.Store(ref, td)
	return td, nil
}

// ---- tasks

func (s *Server) runTasks(w http.ResponseWriter, r *http.Request) {
	var in controller.RunInput
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

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := controller.Filter{Family: q.Get("family"), Group: q.Get("group"), Node: q.Get("node"),
		DesiredStatus: q.Get("desiredStatus"), LastStatus: q.Get("lastStatus"), StartedBy: q.Get("startedBy")}
	tasks := s.cfg.Tasks.List(f)
	if tasks == nil {
		tasks = []*model.Task{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.cfg.Tasks.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": t})
}

func (s *Server) stopTask(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) deleteTask(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Tasks.Delete(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": r.PathValue("id")})
}

// ---- nodes

// publicNode hides the agent's callback secret.
func publicNode(v controller.NodeView) controller.NodeView {
	v.CallbackToken = ""
	return v
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	nodes := s.cfg.Nodes.List()
	out := make([]controller.NodeView, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, publicNode(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Nodes.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	tasks := s.cfg.Tasks.List(controller.Filter{Node: n.Name})
	writeJSON(w, http.StatusOK, map[string]any{"node": publicNode(*n), "tasks": tasks})
}

func (s *Server) setNodeStatus(status string) http.HandlerFunc {
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

func (s *Server) deleteNode(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) newJoinToken(w http.ResponseWriter, r *http.Request) {
	tok := NewToken("orchjoin_")
	if err := s.cfg.Tokens.PutToken(r.Context(), tok, store.RoleAgent, "join"); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok})
}

// ---- apply

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req wire.ApplyRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Documents) == 0 {
		writeError(w, badRequest("documents: no documents to apply"))
		return
	}
	objs := make([]any, len(req.Documents))
	var errs model.FieldErrors
	for i, d := range req.Documents {
		a, ok := s.appliers[d.Kind]
		if !ok {
			errs.Add(fmt.Sprintf("documents[%d].kind", i), fmt.Sprintf("unknown kind %q; known kinds: %s", d.Kind, s.kinds()))
			continue
		}
		obj, err := a.Decode(d.Spec)
		if err != nil {
			errs.Add(fmt.Sprintf("documents[%d]", i), err.Error())
			continue
		}
		objs[i] = obj
	}
	for i, obj := range objs {
		if c, ok := s.appliers[req.Documents[i].Kind].(BatchChecker); ok && obj != nil {
			if err := c.Check(r.Context(), obj, req.Documents, objs); err != nil {
				errs.Add(fmt.Sprintf("documents[%d]", i), err.Error())
			}
		}
	}
	if err := errs.Err(); err != nil {
		writeError(w, err)
		return
	}
	results := make([]wire.ApplyResult, 0, len(objs))
	for i, obj := range objs {
		res, err := s.appliers[req.Documents[i].Kind].Apply(r.Context(), obj)
		if err != nil {
			writeJSON(w, statusOf(err), map[string]any{"results": results, "code": "ApplyFailed",
				"message": fmt.Sprintf("documents[%d] (%s): %v", i, req.Documents[i].Kind, err)})
			return
		}
		results = append(results, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (s *Server) kinds() string {
	out := ""
	for k := range s.appliers {
		if out != "" {
			out += ", "
		}
		out += k
	}
	return out
}

func statusOf(err error) int {
	rec := &statusRecorder{header: http.Header{}}
	writeError(rec, err)
	return rec.status
}

type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(s int)           { r.status = s }

type taskDefApplier struct{ svc TaskDefService }

func (a taskDefApplier) Decode(spec json.RawMessage) (any, error) {
	var td model.TaskDefinition
	if err := strictJSON(spec, &td); err != nil {
		return nil, err
	}
	if err := td.Validate(); err != nil {
		return nil, err
	}
	return &td, nil
}

func (a taskDefApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	td := obj.(*model.TaskDefinition)
	stored, created, err := a.svc.Register(ctx, td)
	if err != nil {
		return wire.ApplyResult{}, err
	}
	action := "unchanged"
	if created {
		action = "created"
		if stored.Revision > 1 {
			action = "configured"
		}
	}
	return wire.ApplyResult{Kind: "TaskDefinition", Name: td.Family, Action: action, Ref: stored.Ref()}, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}
