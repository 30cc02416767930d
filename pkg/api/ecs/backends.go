package ecs

import (
	"context"

	"github.com/orch-project/orch/pkg/model"
)

// Backends are the domain calls the ECS actions make: the same objects /v1
// serves (pkg/controller implements them), in model terms.
type Backends struct {
	TaskDefinitions TaskDefinitions
	Tasks           Tasks
	Services        Services
	Nodes           Nodes
}

// TaskDefinitions is what the ECS API needs of task definitions.
type TaskDefinitions interface {
	Register(ctx context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error)
	Get(ctx context.Context, ref string) (*model.TaskDefinition, error)
	List(ctx context.Context, family string) ([]*model.TaskDefinition, error)
	Deregister(ctx context.Context, ref string) ([]*model.TaskDefinition, error)
	SetTags(ctx context.Context, ref string, tags []model.Tag) (*model.TaskDefinition, error)
	Delete(ctx context.Context, ref string) (*model.TaskDefinition, error)
}

// Tasks is what the ECS API needs of tasks.
type Tasks interface {
	Run(ctx context.Context, in model.RunTaskInput) ([]*model.Task, error)
	Stop(ctx context.Context, id, code, reason string) (*model.Task, error)
	Get(ctx context.Context, id string) (*model.Task, error)
	List(f model.TaskFilter) []*model.Task
	SetTags(ctx context.Context, id string, tags []model.Tag) (*model.Task, error)
}

// Services is what the ECS API needs of services.
type Services interface {
	Apply(ctx context.Context, in *model.Service) (*model.Service, string, error)
	Delete(ctx context.Context, name string) (*model.Service, error)
	Get(ctx context.Context, name string) (*model.Service, []*model.Task, error)
	List(ctx context.Context) ([]*model.Service, error)
	ForceNewDeployment(ctx context.Context, name string) (*model.Service, error)
	SetTags(ctx context.Context, name string, tags []model.Tag) (*model.Service, error)
}

// Nodes is what the ECS API needs of nodes (container instances).
type Nodes interface {
	List() []model.NodeView
	Get(name string) (*model.NodeView, error)
	SetStatus(ctx context.Context, name, status string) (*model.Node, error)
	PutAttributes(ctx context.Context, name string, attrs map[string]*string) (*model.Node, error)
	SetTags(ctx context.Context, name string, tags []model.Tag) (*model.Node, error)
}
