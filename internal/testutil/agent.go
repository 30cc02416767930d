package testutil

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// HandAgent is an agent driven by the test: it registers a node, follows
// its assignment stream and reports whatever the test says. It exercises
// the agent protocol without a runtime.
type HandAgent struct {
	Name string
	c    *client.Client

	mu          sync.Mutex
	assignments map[string]wire.Assignment
	events      []wire.AssignmentEvent
	changed     chan struct{}
	silent      chan struct{}
}

// StopHeartbeats makes the node go silent, as if its host died.
func (a *HandAgent) StopHeartbeats() { close(a.silent) }

// StartHandAgent registers a node with the given capacity and follows its
// assignments until the test ends.
func StartHandAgent(t testing.TB, c *client.Client, name string, cpu, memMiB int, attrs map[string]string) *HandAgent {
	t.Helper()
	c = c.Clone() // each node keeps its own node token
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := c.Register(ctx, wire.RegisterRequest{Name: name, Capacity: model.Resources{CPU: cpu, MemoryMiB: memMiB}, Attributes: attrs, Runtime: "hand"}); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	a := &HandAgent{Name: name, c: c, assignments: map[string]wire.Assignment{}, changed: make(chan struct{}, 1), silent: make(chan struct{})}
	go func() { // heartbeats keep the node alive while the test runs
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-a.silent:
				return
			case <-tick.C:
				_ = c.Heartbeat(ctx, name)
			}
		}
	}()
	go func() {
		// Follow the stream; reconnect (failing over to another server)
		// when it breaks, as the real agent does.
		for ctx.Err() == nil {
			events, _ := c.Assignments(ctx, name)
			for ev := range events {
				a.apply(ev)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return a
}

func (a *HandAgent) apply(ev wire.AssignmentEvent) {
	a.mu.Lock()
	a.events = append(a.events, ev)
	switch ev.Type {
	case wire.EventSnapshot:
		a.assignments = map[string]wire.Assignment{}
		for _, as := range ev.Assignments {
			a.assignments[as.Task.TaskID] = as
		}
	case wire.EventPut:
		for _, as := range ev.Assignments {
			a.assignments[as.Task.TaskID] = as
		}
	case wire.EventDelete:
		delete(a.assignments, ev.TaskID)
	}
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// Assignment returns the current assignment of a task, if any.
func (a *HandAgent) Assignment(id string) (wire.Assignment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	as, ok := a.assignments[id]
	return as, ok
}

// Assigned returns the ids of the tasks currently assigned.
func (a *HandAgent) Assigned() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []string
	for id := range a.assignments {
		ids = append(ids, id)
	}
	return ids
}

// Report sends status reports as this node.
func (a *HandAgent) Report(t testing.TB, reports ...wire.TaskStatusReport) {
	t.Helper()
	if err := a.c.ReportStatus(context.Background(), a.Name, reports); err != nil {
		t.Fatalf("report from %s: %v", a.Name, err)
	}
}

// Heartbeat sends one heartbeat.
func (a *HandAgent) Heartbeat() error { return a.c.Heartbeat(context.Background(), a.Name) }

// Client is the node's own client (its node token): what its agent calls
// the control plane with.
func (a *HandAgent) Client() *client.Client { return a.c }
