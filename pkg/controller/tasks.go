package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/scheduler"
	"github.com/orch-project/orch/pkg/store"
)

// MaxRunCount bounds one RunTask call. ECS allows 10; Orch allows more so a
// batch job can fan out in one call.
const MaxRunCount = 1000

// Tasks starts, stops and reads tasks and merges agent reports.
type Tasks struct {
	st     *store.Store
	caches *Caches
	now    func() time.Time
}

// NewTasks returns the task service.
func NewTasks(st *store.Store, caches *Caches) *Tasks {
	return &Tasks{st: st, caches: caches, now: time.Now}
}

// RunInput is ECS RunTask's input (the parts Orch acts on).
type RunInput = wire.RunTaskInput

// NewTaskID returns a random 32-hex-digit id, like ECS task ids.
func NewTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validateRun checks a RunInput, with field paths.
func validateRun(in *RunInput) error {
	var errs model.FieldErrors
	if in.TaskDefinition == "" {
		errs.Add("taskDefinition", "is required (FAMILY or FAMILY:REVISION)")
	}
	if in.Count < 0 || in.Count > MaxRunCount {
		errs.Add("count", fmt.Sprintf("must be between 1 and %d", MaxRunCount))
	}
	for i, s := range in.PlacementStrategy {
		p := fmt.Sprintf("placementStrategy[%d]", i)
		switch s.Type {
		case model.StrategyBinpack:
			if s.Field != "cpu" && s.Field != "memory" {
				errs.Add(p+".field", "binpack needs field cpu or memory")
			}
		case model.StrategySpread:
			if s.Field == "" {
				errs.Add(p+".field", "spread needs a field: instanceId, host or attribute:NAME")
			}
		case model.StrategyRandom:
		default:
			errs.Add(p+".type", fmt.Sprintf("unknown strategy %q; use binpack, spread or random", s.Type))
		}
	}
	for i, c := range in.PlacementConstraints {
		p := fmt.Sprintf("placementConstraints[%d]", i)
		switch c.Type {
		case model.ConstraintDistinctInstance:
		case model.ConstraintMemberOf:
			if _, err := scheduler.ParseExpression(c.Expression); err != nil {
				errs.Add(p+".expression", err.Error())
			}
		default:
			errs.Add(p+".type", fmt.Sprintf("unknown constraint %q; use distinctInstance or memberOf", c.Type))
		}
	}
	return errs.Err()
}

// Run creates Count tasks of a task definition; the placer assigns them to
// nodes. Tasks start PENDING (Orch has no network provisioning step).
func (s *Tasks) Run(ctx context.Context, in RunInput) ([]*model.Task, error) {
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
	for i, o := range in.Overrides {
		if td.Container(o.Name) == nil {
			return nil, &model.FieldError{Path: fmt.Sprintf("overrides[%d].name", i), Message: fmt.Sprintf("task definition %s has no container %q", td.Ref(), o.Name)}
		}
	}
	tasks := make([]*model.Task, in.Count)
	for i := range tasks {
		tasks[i] = s.newTask(td, in)
	}
	if err := s.st.CreateTasks(ctx, tasks); err != nil {
		return nil, err
	}
	return tasks, nil
}

func (s *Tasks) newTask(td *model.TaskDefinition, in RunInput) *model.Task {
	now := s.now().UTC()
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

// Filter selects tasks in List.
type Filter struct {
	Family        string
	Group         string
	Node          string
	DesiredStatus string
	LastStatus    string
	StartedBy     string
}

func (f Filter) match(t *model.Task) bool {
	return (f.Family == "" || t.Family == f.Family) && (f.Group == "" || t.Group == f.Group) &&
		(f.Node == "" || t.NodeName == f.Node) && (f.DesiredStatus == "" || t.DesiredStatus == f.DesiredStatus) &&
		(f.LastStatus == "" || t.LastStatus == f.LastStatus) && (f.StartedBy == "" || t.StartedBy == f.StartedBy)
}

// List returns matching tasks from the server's cache, newest first.
func (s *Tasks) List(f Filter) []*model.Task {
	var out []*model.Task
	for _, t := range s.caches.Tasks.List() {
		if f.match(t) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].TaskID < out[j].TaskID
	})
	return out
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

// ErrWrongNode is returned when an agent reports on a task that is not
// assigned to its node.
var ErrWrongNode = errors.New("controller: task is not assigned to this node")
