package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func startReporter(t *testing.T, cp *fakeCP) *reporter {
	t.Helper()
	r := newReporter(cp, "node-1", slog.New(slog.DiscardHandler))
	r.minRetry, r.maxRetry = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func TestReporterCoalescesWhileARequestIsInFlight(t *testing.T) {
	cp := newFakeCP()
	for i := range 10 {
		id := fmt.Sprintf("t%d", i)
		cp.tasks[id] = &model.Task{TaskID: id, LastStatus: model.StatusPending}
	}
	release := make(chan struct{})
	first := true
	entered := make(chan struct{})
	cp.reportHook = func([]wire.TaskStatusReport) error {
		if first {
			first = false
			close(entered)
			<-release
		}
		return nil
	}
	r := startReporter(t, cp)
	r.submit(wire.TaskStatusReport{TaskID: "t0", LastStatus: model.StatusActivating})
	<-entered // the first request is now blocked
	statuses := []string{model.StatusActivating, model.StatusRunning, model.StatusStopping, model.StatusStopped}
	for _, st := range statuses {
		for i := range 10 {
			r.submit(wire.TaskStatusReport{TaskID: fmt.Sprintf("t%d", i), LastStatus: st})
		}
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.flushed(ctx); err != nil {
		t.Fatal(err)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.batches) != 2 {
		t.Fatalf("%d requests, want 2", len(cp.batches))
	}
	second := cp.batches[1]
	if len(second) != 10 {
		t.Fatalf("second request has %d reports, want 10 (one per task)", len(second))
	}
	for _, rep := range second {
		if rep.LastStatus != model.StatusStopped {
			t.Errorf("%s: %s, want the latest (STOPPED)", rep.TaskID, rep.LastStatus)
		}
	}
}

func TestReporterKeepsEventsAndRetries(t *testing.T) {
	cp := newFakeCP()
	cp.tasks["a"] = &model.Task{TaskID: "a", LastStatus: model.StatusPending}
	cp.tasks["b"] = &model.Task{TaskID: "b", LastStatus: model.StatusPending}
	fails := 3
	cp.reportHook = func([]wire.TaskStatusReport) error {
		if fails > 0 {
			fails--
			return errors.New("503 Service Unavailable")
		}
		return nil
	}
	r := startReporter(t, cp)
	r.submit(wire.TaskStatusReport{TaskID: "a", LastStatus: model.StatusActivating, Event: "pulling"})
	r.submit(wire.TaskStatusReport{TaskID: "a", LastStatus: model.StatusRunning})
	r.submit(wire.TaskStatusReport{TaskID: "b", LastStatus: model.StatusRunning})
	r.submit(wire.TaskStatusReport{TaskID: "a", LastStatus: model.StatusStopped, Event: "Essential container exited"})
	r.submit(wire.TaskStatusReport{TaskID: "b", LastStatus: model.StatusStopped})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.flushed(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := cp.task("a"), cp.task("b")
	if a.LastStatus != model.StatusStopped || b.LastStatus != model.StatusStopped {
		t.Errorf("a %s, b %s; want both STOPPED", a.LastStatus, b.LastStatus)
	}
	if len(a.Events) != 2 || a.Events[0].Message != "pulling" || a.Events[1].Message != "Essential container exited" {
		t.Errorf("events of a: %+v", a.Events)
	}
	if fails != 0 {
		t.Errorf("%d failures left", fails)
	}
}

func TestReporterForgetsDeletedTasks(t *testing.T) {
	r := newReporter(newFakeCP(), "n", slog.New(slog.DiscardHandler))
	r.submit(wire.TaskStatusReport{TaskID: "a", LastStatus: model.StatusRunning})
	r.submit(wire.TaskStatusReport{TaskID: "b", LastStatus: model.StatusRunning})
	r.forget("a")
	batch := r.take()
	if len(batch) != 1 || batch[0].TaskID != "b" {
		t.Fatalf("batch %+v", batch)
	}
}

func TestMerge(t *testing.T) {
	rep := func(st, ev string) wire.TaskStatusReport {
		return wire.TaskStatusReport{TaskID: "a", LastStatus: st, Event: ev}
	}
	tests := []struct {
		in   []wire.TaskStatusReport
		want []wire.TaskStatusReport
	}{
		{[]wire.TaskStatusReport{rep("A", ""), rep("B", "")}, []wire.TaskStatusReport{rep("B", "")}},
		{[]wire.TaskStatusReport{rep("A", "x"), rep("B", "")}, []wire.TaskStatusReport{rep("B", "x")}},
		{[]wire.TaskStatusReport{rep("A", ""), rep("B", "y")}, []wire.TaskStatusReport{rep("B", "y")}},
		{[]wire.TaskStatusReport{rep("A", "x"), rep("B", "y"), rep("C", "")}, []wire.TaskStatusReport{rep("A", "x"), rep("C", "y")}},
	}
	for i, tt := range tests {
		var q []wire.TaskStatusReport
		for _, r := range tt.in {
			q = merge(q, r)
		}
		if fmt.Sprint(q) != fmt.Sprint(tt.want) {
			t.Errorf("%d: got %+v, want %+v", i, q, tt.want)
		}
	}
}

func TestReporterDropsRejectedBatches(t *testing.T) {
	cp := newFakeCP()
	cp.tasks["a"] = &model.Task{TaskID: "a", LastStatus: model.StatusPending}
	calls := 0
	cp.reportHook = func(reps []wire.TaskStatusReport) error {
		calls++
		if calls == 1 {
			return &client.Error{Status: 400, Code: "InvalidParameter", Message: "bad report"}
		}
		return nil
	}
	r := startReporter(t, cp)
	r.submit(wire.TaskStatusReport{TaskID: "a", LastStatus: "BOGUS"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.flushed(ctx); err != nil {
		t.Fatal(err)
	}
	r.submit(wire.TaskStatusReport{TaskID: "a", LastStatus: model.StatusRunning})
	if err := r.flushed(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 2 || cp.task("a").LastStatus != model.StatusRunning {
		t.Errorf("calls %d, status %s", calls, cp.task("a").LastStatus)
	}
	for _, e := range []error{
		&client.Error{Status: 404, Code: "UnknownNode"}, &client.Error{Status: 401}, &client.Error{Status: 429},
		&client.Error{Status: 503}, errUnreachable,
	} {
		if rejected(e) {
			t.Errorf("rejected(%v) = true, want a retry", e)
		}
	}
}
