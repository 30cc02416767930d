package main

import (
	"context"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

func TestSettled(t *testing.T) {
	task := func(last, health string, checked bool) *model.Task {
		tk := &model.Task{LastStatus: last, HealthStatus: health}
		c := model.Container{Name: "app", Essential: true}
		if checked {
			c.HealthStatus = health
		}
		tk.Containers = []model.Container{c}
		return tk
	}
	tests := []struct {
		name   string
		task   *model.Task
		target waitTarget
		want   bool
	}{
		{"pending", task(model.StatusPending, "", false), untilHealthy, false},
		{"running without a check", task(model.StatusRunning, model.HealthUnknown, false), untilHealthy, true},
		{"running, check not run yet", task(model.StatusRunning, model.HealthUnknown, true), untilHealthy, false},
		{"running and healthy", task(model.StatusRunning, model.HealthHealthy, true), untilHealthy, true},
		{"running and unhealthy: a verdict", task(model.StatusRunning, model.HealthUnhealthy, true), untilHealthy, true},
		{"--until running ignores health", task(model.StatusRunning, model.HealthUnknown, true), untilRunning, true},
		{"--until stopped: running is not enough", task(model.StatusRunning, model.HealthHealthy, true), untilStopped, false},
		{"stopped settles every target", task(model.StatusStopped, model.HealthUnknown, true), untilHealthy, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := settled(tt.task, tt.target); got != tt.want {
				t.Errorf("settled = %v, want %v", got, tt.want)
			}
		})
	}
}

// `orch run --wait` that runs out of time names the tasks still waited
// for, their state, and where to look, instead of "gave up waiting:
// context deadline exceeded".
func TestGaveUpSaysWhatIsStillAwaited(t *testing.T) {
	done := &model.Task{TaskID: "aaaaaaaa11112222", LastStatus: model.StatusStopped, DesiredStatus: model.StatusStopped}
	till := &model.Task{TaskID: "11f812610ce82eea", LastStatus: model.StatusRunning, NodeName: "n1"}
	err := gaveUp(context.DeadlineExceeded, []*model.Task{done, till}, untilStopped)
	want := "gave up waiting, timed out (--timeout): still task/11f81261 RUNNING; see `orch logs 11f81261` and `orch describe task 11f81261`"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	unplaced := &model.Task{TaskID: "bbbbbbbb33334444", LastStatus: model.StatusPending, PlacementMessage: "no node has 4096 MiB free"}
	err = gaveUp(context.Canceled, []*model.Task{unplaced}, untilHealthy)
	if want := "gave up waiting, interrupted: still task/bbbbbbbb PENDING (no node has 4096 MiB free)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got  %v\nwant %s...", err, want)
	}
}

// orch dev suggested `orch apply ...`, which is not on the PATH after
// make build; it suggests the command as the user ran it.
func TestCLINameAsTyped(t *testing.T) {
	for arg0, want := range map[string]string{"./bin/orch": "./bin/orch", "orch": "orch", "/usr/local/bin/orch": "/usr/local/bin/orch", "/tmp/go-build123/b001/exe/orch": "orch"} {
		if got := cliName(arg0); got != want {
			t.Errorf("cliName(%q) = %q, want %q", arg0, got, want)
		}
	}
}
