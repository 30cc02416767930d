package main

import (
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// TestPlacementBlocker: `orch scale web 5 --wait` on one host with a fixed
// host port waited 5 minutes saying only "pending 4"; the progress line now
// carries the scheduler's reason.
func TestPlacementBlocker(t *testing.T) {
	running := &model.Task{TaskID: "a", LastStatus: model.StatusRunning, NodeName: "n1"}
	placedPending := &model.Task{TaskID: "b", LastStatus: model.StatusPending, NodeName: "n1"}
	stuck := &model.Task{TaskID: "c", LastStatus: model.StatusPending,
		PlacementMessage: "no node can take it: 1 node checked, 1 has port tcp/18080 in use"}
	for _, tc := range []struct {
		name  string
		tasks []*model.Task
		want  string
	}{
		{"none pending", []*model.Task{running}, ""},
		{"placed, starting", []*model.Task{running, placedPending}, ""},
		{"unplaceable", []*model.Task{running, placedPending, stuck}, stuck.PlacementMessage},
	} {
		if got := placementBlocker(tc.tasks); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
