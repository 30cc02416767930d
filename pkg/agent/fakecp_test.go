package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// fakeCP is an in-memory control plane. It keeps the server's view of each
// task (applying reports as the server would: LastStatus only forward, a
// stop code only when none is set), streams assignments, and lets tests
// push changes, break the connection and inject errors.
type fakeCP struct {
	mu          sync.Mutex
	registers   []wire.RegisterRequest
	registerErr error
	heartbeats  int
	hbErrs      []error // returned by the next heartbeats, in order
	down        error
	hbInterval  time.Duration
	env         map[string]string
	clusterID   string

	tasks   map[string]*model.Task
	defs    map[string]model.TaskDefinition
	order   []string
	streams map[*cpStream]struct{}
	opened  int // assignment streams opened
	failed  int // calls refused while down

	batches    [][]wire.TaskStatusReport
	reportHook func([]wire.TaskStatusReport) error // called outside mu; an error fails the call

	changed chan struct{} // closed and replaced on every change
}

func newFakeCP() *fakeCP {
	return &fakeCP{
		hbInterval: 20 * time.Millisecond,
		tasks:      map[string]*model.Task{},
		defs:       map[string]model.TaskDefinition{},
		streams:    map[*cpStream]struct{}{},
		changed:    make(chan struct{}),
	}
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:7070: connect: connection refused")

func (cp *fakeCP) notifyLocked() {
	close(cp.changed)
	cp.changed = make(chan struct{})
}

func (cp *fakeCP) Register(ctx context.Context, req wire.RegisterRequest) (wire.RegisterResponse, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.down != nil {
		cp.failed++
		cp.notifyLocked()
		return wire.RegisterResponse{}, cp.down
	}
	if cp.registerErr != nil {
		return wire.RegisterResponse{}, cp.registerErr
	}
	cp.registers = append(cp.registers, req)
	cp.notifyLocked()
	return wire.RegisterResponse{
		Node:              model.Node{Name: req.Name, Status: model.NodeActive, Capacity: req.Capacity, Attributes: req.Attributes, Address: req.Address},
		HeartbeatInterval: cp.hbInterval,
		Env:               cp.env,
		ClusterID:         cp.clusterID,
	}, nil
}

func (cp *fakeCP) Heartbeat(ctx context.Context, node string) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.down != nil {
		cp.failed++
		cp.notifyLocked()
		return cp.down
	}
	cp.heartbeats++
	cp.notifyLocked()
	if len(cp.hbErrs) > 0 {
		err := cp.hbErrs[0]
		cp.hbErrs = cp.hbErrs[1:]
		return err
	}
	return nil
}

func (cp *fakeCP) assignmentLocked(id string) wire.Assignment {
	return wire.Assignment{Task: *cp.tasks[id], TaskDefinition: cp.defs[id]}
}

func (cp *fakeCP) Assignments(ctx context.Context, node string) (<-chan wire.AssignmentEvent, <-chan error) {
	s := &cpStream{ch: make(chan wire.AssignmentEvent), errc: make(chan error, 1), wake: make(chan struct{}, 1)}
	cp.mu.Lock()
	if cp.down != nil {
		err := cp.down
		cp.failed++
		cp.notifyLocked()
		cp.mu.Unlock()
		s.errc <- err
		close(s.ch)
		return s.ch, s.errc
	}
	snap := wire.AssignmentEvent{Type: wire.EventSnapshot}
	for _, id := range cp.order {
		snap.Assignments = append(snap.Assignments, cp.assignmentLocked(id))
	}
	s.queue = append(s.queue, snap)
	cp.streams[s] = struct{}{}
	cp.opened++
	cp.notifyLocked()
	cp.mu.Unlock()
	go s.pump(ctx, func() {
		cp.mu.Lock()
		delete(cp.streams, s)
		cp.mu.Unlock()
	})
	return s.ch, s.errc
}

func (cp *fakeCP) ReportStatus(ctx context.Context, node string, reports []wire.TaskStatusReport) error {
	cp.mu.Lock()
	hook, down := cp.reportHook, cp.down
	if down != nil {
		cp.failed++
		cp.notifyLocked()
	}
	cp.mu.Unlock()
	if down != nil {
		return down
	}
	if hook != nil {
		if err := hook(reports); err != nil {
			return err
		}
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.batches = append(cp.batches, slices.Clone(reports))
	for _, rep := range reports {
		t := cp.tasks[rep.TaskID]
		if t == nil {
			continue
		}
		t.Advance(rep.LastStatus)
		if rep.StopCode != "" && t.StopCode == "" {
			t.StopCode, t.StoppedReason = rep.StopCode, rep.StoppedReason
		}
		if rep.HealthStatus != "" {
			t.HealthStatus = rep.HealthStatus
		}
		if len(rep.Containers) > 0 {
			t.Containers = rep.Containers
		}
		if rep.Usage != nil {
			t.Usage = rep.Usage
		}
		if rep.PullStartedAt != nil {
			t.PullStartedAt = rep.PullStartedAt
		}
		if rep.StartedAt != nil {
			t.StartedAt = rep.StartedAt
		}
		if rep.StoppedAt != nil {
			t.StoppedAt = rep.StoppedAt
		}
		if rep.Event != "" {
			t.AddEvent(time.Now(), "%s", rep.Event)
		}
	}
	cp.notifyLocked()
	return nil
}

// broadcastLocked queues ev on every open stream.
func (cp *fakeCP) broadcastLocked(ev wire.AssignmentEvent) {
	for s := range cp.streams {
		s.push(ev)
	}
	cp.notifyLocked()
}

// run assigns a new task to the node.
func (cp *fakeCP) run(task model.Task, def model.TaskDefinition) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	t := task
	cp.tasks[t.TaskID] = &t
	cp.defs[t.TaskID] = def
	cp.order = append(cp.order, t.TaskID)
	cp.broadcastLocked(wire.AssignmentEvent{Type: wire.EventPut, Assignments: []wire.Assignment{cp.assignmentLocked(t.TaskID)}})
}

// stop sets a task's desired status to STOPPED with a stop code, as the
// server does for StopTask.
func (cp *fakeCP) stop(id, code, reason string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	t := cp.tasks[id]
	t.DesiredStatus = model.StatusStopped
	if t.StopCode == "" {
		t.StopCode, t.StoppedReason = code, reason
	}
	cp.broadcastLocked(wire.AssignmentEvent{Type: wire.EventPut, Assignments: []wire.Assignment{cp.assignmentLocked(id)}})
}

// remove deletes a task from the node's assignments.
func (cp *fakeCP) remove(id string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	delete(cp.tasks, id)
	delete(cp.defs, id)
	cp.order = slices.DeleteFunc(cp.order, func(x string) bool { return x == id })
	cp.broadcastLocked(wire.AssignmentEvent{Type: wire.EventDelete, TaskID: id})
}

// setDown makes the control plane unreachable (err != nil) or reachable.
func (cp *fakeCP) setDown(err error) {
	cp.mu.Lock()
	cp.down = err
	var streams []*cpStream
	if err != nil {
		for s := range cp.streams {
			streams = append(streams, s)
		}
		clear(cp.streams)
	}
	cp.notifyLocked()
	cp.mu.Unlock()
	for _, s := range streams {
		s.breakWith(err)
	}
}

// waitFailures waits until n more calls have been refused.
func (cp *fakeCP) waitFailures(t *testing.T, n int) {
	t.Helper()
	cp.mu.Lock()
	target := cp.failed + n
	cp.mu.Unlock()
	cp.waitFor(t, func() string { return fmt.Sprintf("%d refused calls", n) }, func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return cp.failed >= target
	})
}

func (cp *fakeCP) task(id string) model.Task {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if t := cp.tasks[id]; t != nil {
		c := *t
		c.Containers = slices.Clone(t.Containers)
		return c
	}
	return model.Task{}
}

// waitFor waits until cond holds on the control plane's state.
func (cp *fakeCP) waitFor(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		cp.mu.Lock()
		ch := cp.changed
		cp.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what())
		}
	}
}

// waitTask waits until the server's view of a task satisfies cond.
func (cp *fakeCP) waitTask(t *testing.T, id, what string, cond func(model.Task) bool) model.Task {
	t.Helper()
	var got model.Task
	cp.waitFor(t, func() string { return fmt.Sprintf("task %s: %s (last: %s)", id, what, describe(&got)) }, func() bool {
		got = cp.task(id)
		return cond(got)
	})
	return got
}

// eventually polls cond (for state outside the control plane, such as the
// runtime's) until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func describe(t *model.Task) string {
	s := fmt.Sprintf("lastStatus=%s stopCode=%s reason=%q health=%s", t.LastStatus, t.StopCode, t.StoppedReason, t.HealthStatus)
	for _, c := range t.Containers {
		code := "-"
		if c.ExitCode != nil {
			code = fmt.Sprint(*c.ExitCode)
		}
		s += fmt.Sprintf(" [%s %s exit=%s health=%s reason=%q]", c.Name, c.LastStatus, code, c.HealthStatus, c.Reason)
	}
	return s
}

func (cp *fakeCP) waitStatus(t *testing.T, id, status string) model.Task {
	t.Helper()
	return cp.waitTask(t, id, "lastStatus "+status, func(tk model.Task) bool { return tk.LastStatus == status })
}

type cpStream struct {
	ch     chan wire.AssignmentEvent
	errc   chan error
	mu     sync.Mutex
	queue  []wire.AssignmentEvent
	broken error
	wake   chan struct{}
}

func (s *cpStream) push(ev wire.AssignmentEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *cpStream) breakWith(err error) {
	s.mu.Lock()
	s.broken = err
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *cpStream) pump(ctx context.Context, done func()) {
	defer close(s.ch)
	defer done()
	for {
		s.mu.Lock()
		q, broken := s.queue, s.broken
		s.queue = nil
		s.mu.Unlock()
		if broken != nil {
			s.errc <- broken
			return
		}
		for _, ev := range q {
			select {
			case s.ch <- ev:
			case <-ctx.Done():
				s.errc <- ctx.Err()
				return
			}
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			s.errc <- ctx.Err()
			return
		}
	}
}

// --- fixtures ---

var taskSeq atomic.Int64

// ctrDef is a container on the fake runtime; script goes in ORCH_FAKE.
func ctrDef(name, script string, mods ...func(*model.ContainerDefinition)) model.ContainerDefinition {
	c := model.ContainerDefinition{Name: name, Image: "fake/app:1"}
	if script != "" {
		c.Environment = []model.KeyValuePair{{Name: fake.ScriptEnv, Value: script}}
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func nonEssential(c *model.ContainerDefinition) { f := false; c.Essential = &f }

func dependsOn(name, cond string) func(*model.ContainerDefinition) {
	return func(c *model.ContainerDefinition) {
		c.DependsOn = append(c.DependsOn, model.ContainerDependency{ContainerName: name, Condition: cond})
	}
}

func withHealthCheck(c *model.ContainerDefinition) {
	c.HealthCheck = &model.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
}

func stopTimeout(sec int) func(*model.ContainerDefinition) {
	return func(c *model.ContainerDefinition) { c.StopTimeout = &sec }
}

// newTask builds a PENDING task placed on node with the given containers.
func newTask(node string, containers ...model.ContainerDefinition) (model.Task, model.TaskDefinition) {
	id := fmt.Sprintf("task%04d", taskSeq.Add(1))
	def := model.TaskDefinition{Family: "fam", Revision: 1, ContainerDefinitions: containers}
	t := model.Task{
		TaskID: id, Family: "fam", Revision: 1, Group: "family:fam",
		DesiredStatus: model.StatusRunning, LastStatus: model.StatusPending,
		NodeName: node, CreatedAt: time.Now(),
	}
	return t, def
}

// --- agent harness ---

type harness struct {
	t      *testing.T
	rt     *fake.Runtime
	cp     *fakeCP
	a      *Agent
	cancel context.CancelFunc
	done   chan error
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("ORCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startAgent runs an agent named node-1 on rt and cp until the test ends.
func startAgent(t *testing.T, rt *fake.Runtime, cp *fakeCP, mods ...func(*Config)) *harness {
	t.Helper()
	cfg := Config{NodeName: "node-1", Runtime: rt, ControlPlane: cp, Logger: testLogger(t), StatsInterval: -1}
	for _, m := range mods {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.minBackoff, a.maxBackoff = 5*time.Millisecond, 50*time.Millisecond
	a.rep.minRetry, a.rep.maxRetry = 5*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, rt: rt, cp: cp, a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(func() { _ = h.stop() })
	return h
}

// stop cancels the agent and waits for Run to return.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // later calls see it too
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return within 10s of its context ending")
		return nil
	}
}

func newRuntime() *fake.Runtime { return fake.New(fake.Config{Journal: true}) }
