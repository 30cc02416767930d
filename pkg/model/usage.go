package model

import "time"

// TaskUsage is what a Fargate-style bill of one task is based on: its
// reserved vCPUs and memory over the time it ran.
type TaskUsage struct {
	TaskID      string
	Service     string // "" for a standalone task
	Family      string
	Running     bool
	Seconds     float64 // billed seconds
	VCPUSeconds float64
	GBSeconds   float64
}

// MinBilledSeconds is Fargate's minimum charge per task.
const MinBilledSeconds = 60

// UsageOf returns t's billed usage at now, as Fargate bills it: from the
// image pull's start (else the start) to the stop (else now), by the
// second with a one-minute minimum, times the task's cpu (1,024 units a
// vCPU) and memory reservations. A task that never began pulling or
// running costs nothing.
func UsageOf(t *Task, now time.Time) TaskUsage {
	u := TaskUsage{TaskID: t.TaskID, Service: ServiceOf(t), Family: t.Family, Running: !t.IsStopped()}
	from := t.PullStartedAt
	if from == nil {
		from = t.StartedAt
	}
	if from == nil {
		return u
	}
	to := now
	if t.StoppedAt != nil {
		to = *t.StoppedAt
	}
	secs := to.Sub(*from).Seconds()
	if t.StoppedAt != nil && secs < MinBilledSeconds {
		secs = MinBilledSeconds
	}
	secs = max(secs, 0)
	u.Seconds = secs
	u.VCPUSeconds = secs * float64(t.Requirements.CPU) / 1024
	u.GBSeconds = secs * float64(t.Requirements.MemoryMiB) / 1024
	return u
}
