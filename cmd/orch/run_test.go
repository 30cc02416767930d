package main

import (
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
