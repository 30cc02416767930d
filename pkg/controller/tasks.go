package controller

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// MaxRunCount bounds one RunTask call. ECS allows 10; Orch allows more so a
// batch job can fan out in one call.
const MaxRunCount = 1000

// MaxOverridesBytes and MaxTags bound what one RunTask adds to each of
// its task records (ECS allows 8,192 characters of overrides, 50 tags).
const (
	MaxOverridesBytes = 8192
	MaxTags           = 50
)

// Tasks starts, stops and reads tasks and merges agent reports.
type Tasks struct {
	st     *store.Store
	caches *Caches
	now    func() time.Time
}

// NewTasks returns the tasks handler.
func NewTasks(st *store.Store, caches *Caches) *Tasks {
	return &Tasks{st: st, caches: caches, now: time.Now}
}

// NewTaskID returns a random 32-hex-digit id, like ECS task ids.
func NewTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validateRun checks a RunTaskInput, with field paths.
func validateRun(in *model.RunTaskInput) error {
	var errs model.FieldErrors
	if in.TaskDefinition == "" {
		errs.Add("taskDefinition", "is required (FAMILY or FAMILY:REVISION)")
	}
	if in.Count < 0 || in.Count > MaxRunCount {
		errs.Add("count", fmt.Sprintf("must be between 1 and %d", MaxRunCount))
	}
	// ECS bounds startedBy (128) and group (255); control characters are
	// refused so no terminal ever prints them raw.
	for _, f := range []struct{ path, v string }{{"startedBy", in.StartedBy}, {"group", in.Group}} {
		max := 128
		if f.path == "group" {
			max = model.MaxNameLength
		}
		if len(f.v) > max {
			errs.Add(f.path, fmt.Sprintf("is %d characters; at most %d", len(f.v), max))
		}
		if i := model.ControlChar(f.v); i >= 0 {
			errs.Add(f.path, fmt.Sprintf("has a control character at byte %d; use printable text", i))
		}
	}
	if b, _ := json.Marshal(in.Overrides); len(in.Overrides) > 0 && len(b) > MaxOverridesBytes {
		errs.Add("overrides", fmt.Sprintf("is %d bytes of JSON; at most %d (as in ECS): pass large settings through the task definition or a file in the image", len(b), MaxOverridesBytes))
	}
	if len(in.Tags) > MaxTags {
		errs.Add("tags", fmt.Sprintf("has %d tags; at most %d", len(in.Tags), MaxTags))
	}
	errs = append(errs, model.ValidatePlacement(in.PlacementStrategy, in.PlacementConstraints)...)
	return errs.Err()
}

// Run creates Count tasks of a task definition; the leader's placement
// loop assigns them to nodes. Tasks start PENDING (Orch has no network
// provisioning step).
func (s *Tasks) Run(ctx context.Context, in model.RunTaskInput) ([]*model.Task, error) {
	if in.Count == 0 {
		in.Count = 1
	}
	if err := validateRun(&in); err != nil {
		return nil, err
	}
	td, err := NewTaskDefs(s.st).Get(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if td.Status == "INACTIVE" {
		return nil, fmt.Errorf("%w: task definition %s is INACTIVE (deregistered); register a new revision", model.ErrInvalid, td.Ref())
	}
	if err := policyCheckRef(ctx, s.st, td); err != nil {
		return nil, err
	}
	for i, o := range in.Overrides {
		if td.Container(o.Name) == nil {
			return nil, &model.FieldError{Path: fmt.Sprintf("overrides[%d].name", i), Message: fmt.Sprintf("task definition %s has no container %q", td.Ref(), o.Name)}
		}
	}
	if in.ClientToken != "" {
		return s.runOnce(ctx, td, in)
	}
	tasks := make([]*model.Task, in.Count)
	for i := range tasks {
		tasks[i] = NewTask(td, in, s.now())
	}
	if err := s.st.CreateTasks(ctx, tasks); err != nil {
		return nil, err
	}
	return tasks, nil
}

// NewTask returns a new PENDING task of td, as in asks, created at now. It
// is not stored: RunTask and the service reconciler store it.
func NewTask(td *model.TaskDefinition, in model.RunTaskInput, now time.Time) *model.Task {
	now = now.UTC()
	group := in.Group
	if group == "" {
		group = "family:" + td.Family
	}
	id := NewTaskID()
	t := &model.Task{
		TaskID:               id,
		TaskArn:              model.TaskArnFor(id),
		TaskDefinitionArn:    td.Arn(),
		Family:               td.Family,
		Revision:             td.Revision,
		Group:                group,
		StartedBy:            in.StartedBy,
		DesiredStatus:        model.StatusRunning,
		LastStatus:           model.StatusPending,
		Requirements:         td.Requirements(),
		StaticPorts:          td.StaticHostPorts(),
		PlacementStrategy:    in.PlacementStrategy,
		PlacementConstraints: append(append([]model.PlacementConstraint(nil), td.PlacementConstraints...), in.PlacementConstraints...),
		Overrides:            in.Overrides,
		Tags:                 in.Tags,
		CreatedAt:            now,
	}
	t.AddEvent(now, "created from %s", td.Ref())
	return t
}

// Stop asks for a task to stop. The agent stops its containers; a task
// that was never placed stops at once.
func (s *Tasks) Stop(ctx context.Context, id, code, reason string) (*model.Task, error) {
	if code == "" {
		code = model.StopUserInitiated
	}
	if reason == "" {
		reason = "Task stopped by user"
	}
	return s.st.UpdateTask(ctx, id, func(t *model.Task) (bool, error) {
		if t.DesiredStatus == model.StatusStopped {
			return false, nil
		}
		now := s.now().UTC()
		t.DesiredStatus = model.StatusStopped
		if t.StopCode == "" {
			t.StopCode, t.StoppedReason = code, reason
		}
		if !t.IsPlaced() {
			t.Stop(now, code, reason)
			return true, nil
		}
		t.StoppingAt = &now
		t.AddEvent(now, "stop requested: %s", reason)
		return true, nil
	})
}

// Get returns a task by id or by a unique id prefix (at least 4 characters).
func (s *Tasks) Get(ctx context.Context, id string) (*model.Task, error) {
	full, err := s.Resolve(id)
	if err != nil {
		return nil, err
	}
	return s.st.GetTask(ctx, full)
}

// Resolve expands a unique id prefix, or a task ARN (what get -o json
// shows first), to a full task id.
func (s *Tasks) Resolve(id string) (string, error) {
	if arn, ok := strings.CutPrefix(id, "arn:"); ok && strings.Contains(arn, ":task/") {
		id = arn[strings.LastIndex(arn, "/")+1:] // arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID
	}
	if s.caches.Tasks.Get(id) != nil || len(id) == 32 {
		return id, nil
	}
	if len(id) < 4 {
		return "", fmt.Errorf("task %q: %w", id, model.ErrNotFound)
	}
	var matches []string
	for _, t := range s.caches.Tasks.List() {
		if strings.HasPrefix(t.TaskID, id) {
			matches = append(matches, t.TaskID)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("task %q: %w", id, model.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	sort.Strings(matches)
	return "", fmt.Errorf("%w: task id prefix %q matches %d tasks (%s, ...); give more characters", model.ErrInvalid, id, len(matches), matches[0])
}

// List returns matching tasks from the server's cache, newest first.
//
// A client reading the list page by page calls List once per page, so the
// sort is on each task's creation time read once (as Unix nanoseconds),
// not on time.Time comparisons.
func (s *Tasks) List(f model.TaskFilter) []*model.Task {
	type entry struct {
		at int64
		t  *model.Task
	}
	var es []entry
	for _, t := range s.caches.Tasks.List() {
		if f.Match(t) {
			es = append(es, entry{t.CreatedAt.UnixNano(), t})
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.at != b.at {
			return cmp.Compare(b.at, a.at)
		}
		return strings.Compare(a.t.TaskID, b.t.TaskID)
	})
	if len(es) == 0 {
		return nil
	}
	out := make([]*model.Task, len(es))
	for i, e := range es {
		out[i] = e.t
	}
	return out
}

// ForceDelete removes a task's record by its full id, whatever its state
// or size: for an admin when a record is stuck. An agent running it sees
// the task vanish from its assignments and stops its containers.
func (s *Tasks) ForceDelete(ctx context.Context, id string) error {
	if full, err := s.Resolve(id); err == nil {
		id = full
	}
	return s.st.ForceDeleteTask(ctx, id)
}

// Delete removes a stopped task's record. A running task must be stopped first.
func (s *Tasks) Delete(ctx context.Context, id string) error {
	t, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if !t.IsStopped() {
		return fmt.Errorf("%w: task %s is %s; stop it first (orch stop %s)", model.ErrConflict, t.ShortID(), t.LastStatus, t.ShortID())
	}
	return s.st.DeleteTasks(ctx, []*model.Task{t})
}
