package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// Issue 12 item 1: one oversized task record (reasons embedding a long
// memberOf expression, events, a rogue agent's report) failed every batch
// it was in: no placements, dead nodes' tasks never marked lost. Records
// are now bounded when written, so the batch goes through.
func TestOneBloatedTaskDoesNotBlockItsBatch(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	var tasks []*model.Task
	for i := range 50 {
		tasks = append(tasks, &model.Task{TaskID: fmt.Sprintf("t%02d", i), DesiredStatus: "RUNNING", LastStatus: "PENDING"})
	}
	if err := st.CreateTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	// Task t07 grows beyond etcd's request limit (32 MiB embedded): a
	// 1 MiB unplaceable reason per event, and a rogue agent's report.
	huge := strings.Repeat("attribute:zone == \"z\" || ", 1<<20/24)
	bad := tasks[7]
	for range 40 {
		bad.PlacementMessage = huge
		bad.Events = append(bad.Events, model.TaskEvent{Message: huge})
	}
	for i := range 10000 {
		bad.Containers = append(bad.Containers, model.Container{Name: fmt.Sprint("c", i), Reason: huge[:4096]})
	}
	for _, tk := range tasks {
		tk.NodeName = "n1"
	}
	conflicts, err := st.CommitTasks(ctx, tasks, nil)
	if err != nil || len(conflicts) != 0 {
		t.Fatalf("commit with one bloated task: conflicts %v, err %v; want every task committed", conflicts, err)
	}
	for _, tk := range tasks {
		got, err := st.GetTask(ctx, tk.TaskID)
		if err != nil || got.NodeName != "n1" {
			t.Fatalf("task %s after the commit: %+v, %v; want placed on n1", tk.TaskID, got, err)
		}
	}
	got, _ := st.GetTask(ctx, "t07")
	b, _ := json.Marshal(got)
	if len(b) > model.MaxTaskBytes || len(got.PlacementMessage) > model.MaxMessage {
		t.Errorf("the bloated task is stored as %d bytes with a %d byte message; want at most %d and %d",
			len(b), len(got.PlacementMessage), model.MaxTaskBytes, model.MaxMessage)
	}
	if !strings.Contains(got.PlacementMessage, "more bytes)") {
		t.Errorf("a clipped message should say it was clipped: %q", got.PlacementMessage[len(got.PlacementMessage)-40:])
	}

	// What a user gave that cannot be bounded is refused, not stored.
	big := &model.Task{TaskID: "big", Tags: []model.Tag{{Key: "k", Value: strings.Repeat("v", 100<<10)}}}
	if err := st.CreateTasks(ctx, []*model.Task{big}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("a 100 KiB task: %v; want a validation error (400)", err)
	}
	// And the admin can always remove a record.
	if err := st.ForceDeleteTask(ctx, "t07"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetTask(ctx, "t07"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("after ForceDeleteTask: %v, want not found", err)
	}
}
