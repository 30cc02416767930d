package model

import (
	"fmt"
	"slices"
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
// limits. It never touches what identifies or schedules the task. It
// writes only what it changes, and copies a slice before changing an
// element of it: a task being committed often shares its slices with the
// cached copy that readers are encoding at the same time.
func (t *Task) Bound() {
	clip := func(p *string, n int) {
		if len(*p) > n {
			*p = Clip(*p, n)
		}
	}
	clip(&t.PlacementMessage, MaxMessage)
	clip(&t.StoppedReason, MaxMessage)
	clip(&t.StopCode, maxShortField)
	clip(&t.HealthStatus, maxShortField)
	if len(t.Containers) > maxTaskContainers {
		t.Containers = t.Containers[:maxTaskContainers:maxTaskContainers]
	}
	if slices.ContainsFunc(t.Containers, containerOver) {
		t.Containers = slices.Clone(t.Containers)
		for i := range t.Containers {
			c := &t.Containers[i]
			clip(&c.Name, maxShortField)
			clip(&c.Image, MaxMessage)
			clip(&c.RuntimeID, maxShortField)
			clip(&c.LastStatus, maxShortField)
			clip(&c.HealthStatus, maxShortField)
			clip(&c.Reason, MaxMessage)
			if len(c.NetworkBindings) > maxBindings {
				c.NetworkBindings = c.NetworkBindings[:maxBindings:maxBindings]
			}
			if slices.ContainsFunc(c.NetworkBindings, bindingOver) {
				c.NetworkBindings = slices.Clone(c.NetworkBindings)
				for j := range c.NetworkBindings {
					clip(&c.NetworkBindings[j].BindIP, 64)
					clip(&c.NetworkBindings[j].Protocol, 16)
				}
			}
		}
	}
	if n := len(t.Events); n > maxTaskEvents {
		t.Events = append(t.Events[:0:0], t.Events[n-maxTaskEvents:]...)
	}
	if slices.ContainsFunc(t.Events, func(e TaskEvent) bool { return len(e.Message) > MaxEventMessage }) {
		t.Events = slices.Clone(t.Events)
		for i := range t.Events {
			clip(&t.Events[i].Message, MaxEventMessage)
		}
	}
}

func containerOver(c Container) bool {
	return len(c.Name) > maxShortField || len(c.Image) > MaxMessage || len(c.RuntimeID) > maxShortField ||
		len(c.LastStatus) > maxShortField || len(c.HealthStatus) > maxShortField || len(c.Reason) > MaxMessage ||
		len(c.NetworkBindings) > maxBindings || slices.ContainsFunc(c.NetworkBindings, bindingOver)
}

func bindingOver(b NetworkBinding) bool { return len(b.BindIP) > 64 || len(b.Protocol) > 16 }

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
