package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

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
		force, err := forceParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if force && status != model.NodeDraining {
			writeError(w, &model.FieldError{Path: "force", Message: "only applies to drain"})
			return
		}
		n, err := s.cfg.Nodes.SetStatus(r.Context(), r.PathValue("name"), status)
		if err != nil {
			writeError(w, err)
			return
		}
		n.CallbackToken = ""
		// ECS semantics: draining replaces service tasks (the service
		// reconciler does it within the deployment's bounds) and leaves
		// standalone tasks running; force stops those too.
		var stopped []string
		if force {
			for _, t := range s.cfg.Tasks.List(model.TaskFilter{Node: n.Name}) {
				if t.IsStopped() || t.DesiredStatus == model.StatusStopped || strings.HasPrefix(t.Group, "service:") {
					continue
				}
				if _, err := s.cfg.Tasks.Stop(r.Context(), t.TaskID, model.StopUserInitiated,
					fmt.Sprintf("node %s was drained with force", n.Name)); err != nil && !errors.Is(err, model.ErrNotFound) {
					writeError(w, err)
					return
				}
				stopped = append(stopped, t.TaskID)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"node": n, "stoppedTasks": stopped})
	}
}

// deleteNode forgets a node; the lifecycle loop then stops its tasks as
// NodeLost (service tasks are replaced). A node that is still alive is
// refused without force: its orchlet would only register it again.
func (s *core) deleteNode(w http.ResponseWriter, r *http.Request) {
	force, err := forceParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	n, err := s.cfg.Nodes.Get(name)
	if err != nil {
		writeError(w, err)
		return
	}
	if n.Alive && !force {
		writeError(w, fmt.Errorf("%w: node %s is alive (its orchlet heartbeats): stop its orchlet first, or delete with force "+
			"(orch node rm --force; its tasks are then stopped and service tasks replaced, and a running orchlet registers the node again)", model.ErrConflict, name))
		return
	}
	if err := s.cfg.Nodes.Delete(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}

// forceParam reads the optional ?force=true|false.
func forceParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("force")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &model.FieldError{Path: "force", Message: fmt.Sprintf("must be true or false, got %q", v)}
	}
	return b, nil
}
