package model

import (
	"math"
	"testing"
	"time"
)

func TestUsageOfBillsLikeFargate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) *time.Time { v := t0.Add(time.Duration(s) * time.Second); return &v }
	req := Resources{CPU: 512, MemoryMiB: 2048}
	cases := []struct {
		name          string
		task          Task
		now           time.Time
		secs, vcpu, g float64
	}{
		{"never started", Task{Requirements: req}, t0.Add(time.Hour), 0, 0, 0},
		{"running 2 minutes from pull", Task{Requirements: req, PullStartedAt: at(0), StartedAt: at(10)}, t0.Add(2 * time.Minute), 120, 60, 240},
		{"stopped after 10 s: one-minute minimum", Task{Requirements: req, StartedAt: at(0), StoppedAt: at(10), LastStatus: StatusStopped}, t0.Add(time.Hour), 60, 30, 120},
		{"stopped after 300 s", Task{Requirements: req, PullStartedAt: at(0), StoppedAt: at(300), LastStatus: StatusStopped}, t0.Add(time.Hour), 300, 150, 600},
	}
	for _, c := range cases {
		u := UsageOf(&c.task, c.now)
		if math.Abs(u.Seconds-c.secs) > 1e-9 || math.Abs(u.VCPUSeconds-c.vcpu) > 1e-9 || math.Abs(u.GBSeconds-c.g) > 1e-9 {
			t.Errorf("%s: %+v, want %v s, %v vCPU-s, %v GB-s", c.name, u, c.secs, c.vcpu, c.g)
		}
	}
}
