package api

import (
	"net/http"

	"github.com/orch-project/orch/pkg/model"
)

// publicNode hides the agent's callback secret.
func publicNode(v model.NodeView) model.NodeView {
	v.CallbackToken = ""
	return v
}

func (s *core) listNodes(w http.ResponseWriter, r *http.Request) {
	page, err := ParsePage(r)
	if err != nil {
		writeError(w, err)
		return
	}
	nodes, next := Page(s.cfg.Nodes.List(), func(n model.NodeView) string { return n.Name }, page)
	out := make([]model.NodeView, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, publicNode(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out, "nextToken": next})
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
