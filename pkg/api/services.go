package api

import (
	"context"
	"encoding/json"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// TaskDefService is what the API needs of task definitions.
type TaskDefService interface {
	Register(ctx context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error)
	Get(ctx context.Context, ref string) (*model.TaskDefinition, error)
	List(ctx context.Context, family string) ([]*model.TaskDefinition, error)
	Deregister(ctx context.Context, ref string) ([]*model.TaskDefinition, error)
}

// TaskService is what the API needs of tasks.
type TaskService interface {
	Run(ctx context.Context, in controller.RunInput) ([]*model.Task, error)
	Stop(ctx context.Context, id, code, reason string) (*model.Task, error)
	Get(ctx context.Context, id string) (*model.Task, error)
	Resolve(id string) (string, error)
	List(f controller.Filter) []*model.Task
	Delete(ctx context.Context, id string) error
	ApplyReports(ctx context.Context, node string, reports []wire.TaskStatusReport) error
}

// NodeService is what the API needs of nodes.
type NodeService interface {
	Register(ctx context.Context, req wire.RegisterRequest) (*model.Node, error)
	Heartbeat(ctx context.Context, name string) error
	List() []controller.NodeView
	Get(name string) (*controller.NodeView, error)
	Lookup(name string) (*model.Node, error)
	SetStatus(ctx context.Context, name, status string) (*model.Node, error)
	Delete(ctx context.Context, name string) error
}

// TaskSource streams task changes for agents' assignment streams.
type TaskSource interface {
	SubscribeFilter(keep func(store.Change[model.Task]) bool) *store.Subscription[model.Task]
}

// TokenStore checks bearer tokens and mints join and node tokens.
type TokenStore interface {
	TokenInfo(ctx context.Context, tok string) (role, name string, err error)
	PutToken(ctx context.Context, tok, role, name string) error
	SetNodeToken(ctx context.Context, node, tok string) error
}

// Applier applies one manifest kind for POST /v1/apply. Other packages
// (services, queues, ...) add kinds with Config.Appliers.
type Applier interface {
	// Decode parses and validates spec without applying it.
	Decode(spec json.RawMessage) (any, error)
	// Apply creates or updates the decoded object.
	Apply(ctx context.Context, obj any) (wire.ApplyResult, error)
}
