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
	Cluster         Cluster
}

// TaskDefinitions is what the ECS API needs of task definitions.
type TaskDefinitions interface {
	Register(ctx context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error)
	Get(ctx context.Context, ref string) (*model.TaskDefinition, error)
	List(ctx context.Context, family string) ([]*model.TaskDefinition, error)
	Deregister(ctx context.Context, ref string) ([]*model.TaskDefinition, error)
	UpdateTags(ctx context.Context, ref string, add []model.Tag, remove []string) (*model.TaskDefinition, error)
	Delete(ctx context.Context, ref string) (*model.TaskDefinition, error)
}

// Tasks is what the ECS API needs of tasks.
type Tasks interface {
	Run(ctx context.Context, in model.RunTaskInput) ([]*model.Task, error)
	Stop(ctx context.Context, id, code, reason string) (*model.Task, error)
	Get(ctx context.Context, id string) (*model.Task, error)
	List(f model.TaskFilter) []*model.Task
	UpdateTags(ctx context.Context, id string, add []model.Tag, remove []string) (*model.Task, error)
}

// Services is what the ECS API needs of services.
type Services interface {
	Apply(ctx context.Context, in *model.Service) (*model.Service, string, error)
	Create(ctx context.Context, in *model.Service) (*model.Service, error)
	Deleted(ctx context.Context, name string) (*model.Service, error)
	Delete(ctx context.Context, name string) (*model.Service, error)
	Get(ctx context.Context, name string) (*model.Service, []*model.Task, error)
	List(ctx context.Context) ([]*model.Service, error)
	ForceNewDeployment(ctx context.Context, name string) (*model.Service, error)
	UpdateTags(ctx context.Context, name string, add []model.Tag, remove []string) (*model.Service, error)
}

// Nodes is what the ECS API needs of nodes (container instances).
type Nodes interface {
	List() []model.NodeView
	Get(name string) (*model.NodeView, error)
	SetStatus(ctx context.Context, name, status string) (*model.Node, error)
	PutAttributes(ctx context.Context, name string, attrs map[string]*string) (*model.Node, error)
	UpdateTags(ctx context.Context, name string, add []model.Tag, remove []string) (*model.Node, error)
}

// Cluster is what the ECS API stores of the one cluster: its tags.
type Cluster interface {
	Tags(ctx context.Context) ([]model.Tag, error)
	UpdateTags(ctx context.Context, add []model.Tag, remove []string) ([]model.Tag, error)
}
