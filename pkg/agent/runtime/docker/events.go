package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// forwardedActions are the container events Events reports. Docker's
// "health_status: healthy" style actions are reported as "health_status".
var forwardedActions = map[string]bool{
	"create":        true,
	"start":         true,
	"die":           true,
	"kill":          true,
	"stop":          true,
	"oom":           true,
	"destroy":       true,
	"health_status": true,
}

// Events streams create, start, die, kill, stop, oom, health_status and
// destroy events of Orch-managed containers until ctx ends. Event.Labels
// holds the container's labels with the "orch." prefix. When the stream
// breaks (e.g. the daemon restarted) the error channel yields one error and
// both channels close; when ctx ends both close without an error. The
// subscription is in place when Events returns.
func (r *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event, 64)
	errc := make(chan error, 1)
	args := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", runtime.LabelManaged+"=true"),
	)
	msgs, errs := r.api.Events(ctx, events.ListOptions{Filters: args})
	go func() {
		defer close(errc)
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-errs:
				if ctx.Err() != nil {
					return
				}
				if !ok || err == nil {
					err = fmt.Errorf("stream closed")
				}
				errc <- fmt.Errorf("docker events: %w", err)
				return
			case m := <-msgs:
				ev, ok := eventFromMessage(m)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errc
}

// eventFromMessage converts a Docker event; ok is false for events Orch
// does not care about.
func eventFromMessage(m events.Message) (runtime.Event, bool) {
	if m.Type != "" && m.Type != events.ContainerEventType {
		return runtime.Event{}, false
	}
	action, _, _ := strings.Cut(string(m.Action), ":")
	action = strings.TrimSpace(action)
	if !forwardedActions[action] {
		return runtime.Event{}, false
	}
	labels := map[string]string{}
	for k, v := range m.Actor.Attributes {
		if strings.HasPrefix(k, "orch.") {
			labels[k] = v
		}
	}
	return runtime.Event{ContainerID: m.Actor.ID, Labels: labels, Action: action}, true
}
