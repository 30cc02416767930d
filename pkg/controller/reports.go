package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// ApplyReports merges what an agent observed into its tasks. Observed
// status only moves forward; a stop code set by the server (UserInitiated,
// ...) is kept. Reports are committed in batches from the cache and the
// few that conflict are retried one by one against etcd.
func (s *Tasks) ApplyReports(ctx context.Context, node string, reports []model.TaskStatusReport) error {
	// Several reports of one task merge in order into one write.
	byID := make(map[string][]model.TaskStatusReport, len(reports))
	var order []string
	for _, r := range reports {
		if _, ok := byID[r.TaskID]; !ok {
			order = append(order, r.TaskID)
		}
		byID[r.TaskID] = append(byID[r.TaskID], r)
	}
	var batch []*model.Task
	var retry []string
	for _, id := range order {
		cur := s.caches.Tasks.Get(id)
		if cur == nil {
			retry = append(retry, id) // not cached yet: read etcd below
			continue
		}
		if cur.NodeName != node {
			continue
		}
		t := CloneTask(cur)
		changed := false
		for _, r := range byID[id] {
			changed = s.merge(t, r) || changed
		}
		if changed {
			batch = append(batch, t)
		}
	}
	conflicts, err := s.st.CommitTasks(ctx, batch, nil)
	if err != nil {
		return err
	}
	for _, id := range append(retry, conflicts...) {
		_, err := s.st.UpdateTask(ctx, id, func(t *model.Task) (bool, error) {
			if t.NodeName != node {
				return false, fmt.Errorf("task %s on node %q, reported by %q: %w", id, t.NodeName, node, model.ErrWrongNode)
			}
			changed := false
			for _, r := range byID[id] {
				changed = s.merge(t, r) || changed
			}
			return changed, nil
		})
		if err != nil && !errors.Is(err, model.ErrNotFound) && !errors.Is(err, model.ErrWrongNode) {
			return err
		}
	}
	return nil
}

// merge applies one report to t and reports whether t changed.
func (s *Tasks) merge(t *model.Task, r model.TaskStatusReport) bool {
	changed := false
	now := s.now().UTC()
	prev := t.LastStatus
	if r.LastStatus != "" && t.Advance(r.LastStatus) {
		changed = true
		t.AddEvent(now, "%s -> %s", prev, t.LastStatus)
	}
	if r.Containers != nil {
		t.Containers, changed = r.Containers, true
	}
	if r.HealthStatus != "" && r.HealthStatus != t.HealthStatus {
		t.HealthStatus, changed = r.HealthStatus, true
	}
	if r.Usage != nil {
		t.Usage, changed = r.Usage, true
	}
	if p := r.Protection; p != nil {
		var until *time.Time
		if p.Enabled {
			until = p.ExpiresAt
		}
		if (until == nil) != (t.ProtectedUntil == nil) || until != nil && !until.Equal(*t.ProtectedUntil) {
			t.ProtectedUntil, changed = until, true
			if until != nil {
				t.AddEvent(now, "scale-in protection enabled until %s", until.UTC().Format(time.RFC3339))
			} else {
				t.AddEvent(now, "scale-in protection disabled")
			}
		}
	}
	setOnce := func(dst **time.Time, v *time.Time) {
		if v != nil && *dst == nil {
			*dst, changed = v, true
		}
	}
	setOnce(&t.PullStartedAt, r.PullStartedAt)
	setOnce(&t.StartedAt, r.StartedAt)
	setOnce(&t.StoppedAt, r.StoppedAt)
	if t.IsStopped() {
		if t.StopCode == "" && r.StopCode != "" {
			t.StopCode, t.StoppedReason, changed = r.StopCode, r.StoppedReason, true
		} else if t.StoppedReason == "" && r.StoppedReason != "" {
			t.StoppedReason, changed = r.StoppedReason, true
		}
		if t.DesiredStatus != model.StatusStopped {
			t.DesiredStatus, changed = model.StatusStopped, true
		}
		if t.StoppedAt == nil {
			t.StoppedAt, changed = &now, true
		}
	}
	if r.Event != "" {
		t.AddEvent(now, "%s", r.Event)
		changed = true
	}
	return changed
}

// CloneTask copies a task deep enough to modify its top-level fields and
// slices without touching the cached original.
func CloneTask(t *model.Task) *model.Task {
	c := *t
	c.Events = append([]model.TaskEvent(nil), t.Events...)
	return &c
}
