package controller

import (
	"context"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// TaskDefs registers and reads task definitions.
type TaskDefs struct{ st *store.Store }

// NewTaskDefs returns the task definitions handler.
func NewTaskDefs(st *store.Store) *TaskDefs { return &TaskDefs{st: st} }

// Register validates td and stores it as a new revision unless the latest
// revision has the same content (created=false then).
func (s *TaskDefs) Register(ctx context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error) {
	if err := td.Validate(); err != nil {
		return nil, false, err
	}
	if err := PolicyOf(s.st).Check(ctx, td); err != nil {
		return nil, false, err
	}
	return s.st.RegisterTaskDefinition(ctx, td)
}

// Get resolves "family", "family:rev" or an ARN.
func (s *TaskDefs) Get(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	family, rev, err := model.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	return s.st.GetTaskDefinition(ctx, family, rev)
}

// List returns the revisions of a family, or of every family when empty.
func (s *TaskDefs) List(ctx context.Context, family string) ([]*model.TaskDefinition, error) {
	return s.st.ListTaskDefinitions(ctx, family)
}

// Deregister marks family:rev INACTIVE, or every revision of family when
// the ref has no revision.
func (s *TaskDefs) Deregister(ctx context.Context, ref string) ([]*model.TaskDefinition, error) {
	family, rev, err := model.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	revs := []int{rev}
	if rev == 0 {
		all, err := s.st.ListTaskDefinitions(ctx, family)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("task definition family %s: %w", family, model.ErrNotFound)
		}
		revs = revs[:0]
		for _, td := range all {
			revs = append(revs, td.Revision)
		}
	}
	var out []*model.TaskDefinition
	for _, r := range revs {
		td, err := s.st.DeregisterTaskDefinition(ctx, family, r)
		if err != nil {
			return out, err
		}
		out = append(out, td)
	}
	return out, nil
}
