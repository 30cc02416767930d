package model

import (
	"fmt"
	"unicode/utf8"
)

// Every stored object is bounded in size, as Kubernetes caps objects and
// events: one record over etcd's request limit fails the whole batch it
// is committed in (issue 12: an unplaceable task whose reason embedded a
// long memberOf expression grew to 12.6 MB and froze placement and the
// lifecycle loop for the whole cluster). Messages are clipped when they
// are made, and Bound clips whatever a rogue agent or a long reason put
// into a task before it is written.
const (
	// MaxTaskBytes is the most a task record may take in etcd.
	MaxTaskBytes = 64 << 10
	// MaxMessage bounds reasons and messages (placementMessage,
	// stoppedReason, a container's reason).
	MaxMessage = 1024
	// MaxEventMessage bounds one event line.
	MaxEventMessage = 512
	// maxTaskContainers and maxBindings bound what an agent reports.
	maxTaskContainers = 32
	maxBindings       = 256
	maxShortField     = 256
)

// Clip returns s cut to at most n bytes (on a rune boundary), saying how
// much was left out.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	suffix := fmt.Sprintf("… (%d more bytes)", len(s)-n)
	cut := max(n-len(suffix), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// Bound clips t's free-text fields and agent-reported lists to their
// limits. It never touches what identifies or schedules the task.
func (t *Task) Bound() {
	t.PlacementMessage = Clip(t.PlacementMessage, MaxMessage)
	t.StoppedReason = Clip(t.StoppedReason, MaxMessage)
	t.StopCode = Clip(t.StopCode, maxShortField)
	t.HealthStatus = Clip(t.HealthStatus, maxShortField)
	if len(t.Containers) > maxTaskContainers {
		t.Containers = t.Containers[:maxTaskContainers]
	}
	for i := range t.Containers {
		c := &t.Containers[i]
		c.Name, c.Image = Clip(c.Name, maxShortField), Clip(c.Image, MaxMessage)
		c.RuntimeID, c.LastStatus = Clip(c.RuntimeID, maxShortField), Clip(c.LastStatus, maxShortField)
		c.HealthStatus, c.Reason = Clip(c.HealthStatus, maxShortField), Clip(c.Reason, MaxMessage)
		if len(c.NetworkBindings) > maxBindings {
			c.NetworkBindings = c.NetworkBindings[:maxBindings]
		}
		for j := range c.NetworkBindings {
			b := &c.NetworkBindings[j]
			b.BindIP, b.Protocol = Clip(b.BindIP, 64), Clip(b.Protocol, 16)
		}
	}
	if n := len(t.Events); n > maxTaskEvents {
		t.Events = append(t.Events[:0:0], t.Events[n-maxTaskEvents:]...)
	}
	for i := range t.Events {
		t.Events[i].Message = Clip(t.Events[i].Message, MaxEventMessage)
	}
}

// ControlChar returns the byte offset of the first control character
// (C0, DEL, C1) in s, or -1.
func ControlChar(s string) int {
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return i
		}
	}
	return -1
}

// ErrTooLarge is a record that stays over its limit after Bound: its
// user-given parts (overrides, tags, constraints) are too big.
var ErrTooLarge = fmt.Errorf("%w: record too large", ErrInvalid)
