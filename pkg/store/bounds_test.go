package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
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

// Issue 12 item 8: after kill -9 and a restart on the same data dir, the
// queues answered 503 until the dead process's election lease expired.
// A process that finds its own id in the election takes over at once.
func TestCampaignTakesBackItsOwnStaleLease(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	// What a killed process leaves: its election key on a 60 s lease
	// that nobody keeps alive (a second store client, closed at once).
	dead, err := store.Open(ctx, store.Config{Endpoints: st.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Campaign(ctx, "queues", "host/127.0.0.1:7474", 60); err != nil {
		t.Fatal(err)
	}
	dead.Close() // no keepalives from here on, and no resign
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	l, err := st.Campaign(cctx, "queues", "host/127.0.0.1:7474", 5)
	if err != nil {
		t.Fatalf("campaign with our own stale key in place: %v (it waited for the dead lease)", err)
	}
	defer l.Resign(ctx)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took over after %s; want at once, not after the dead lease's 60 s", d)
	}
}
