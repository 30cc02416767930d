package api

import (
	"context"
	"time"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// The backends the handlers call: narrow interfaces in domain terms (model
// types only), implemented by pkg/controller and adapted in pkg/server.

// TaskDefinitions is what the API needs of task definitions.
type TaskDefinitions interface {
	Register(ctx context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error)
	Get(ctx context.Context, ref string) (*model.TaskDefinition, error)
	List(ctx context.Context, family string) ([]*model.TaskDefinition, error)
	Deregister(ctx context.Context, ref string) ([]*model.TaskDefinition, error)
}

// Tasks is what the API needs of tasks.
type Tasks interface {
	Run(ctx context.Context, in model.RunTaskInput) ([]*model.Task, error)
	Stop(ctx context.Context, id, code, reason string) (*model.Task, error)
	Get(ctx context.Context, id string) (*model.Task, error)
	Resolve(id string) (string, error)
	List(f model.TaskFilter) []*model.Task
	Delete(ctx context.Context, id string) error
	// ForceDelete removes a task's record whatever its state or size.
	ForceDelete(ctx context.Context, id string) error
	ApplyReports(ctx context.Context, node string, reports []model.TaskStatusReport) error
}

// Nodes is what the API needs of nodes.
type Nodes interface {
	// Nonce hands out a single-use value an agent signs to register.
	Nonce(ctx context.Context) (string, error)
	Register(ctx context.Context, req model.NodeRegistration) (*model.Node, error)
	Heartbeat(ctx context.Context, name string) error
	// HeartbeatInterval is the interval agents are told at register.
	HeartbeatInterval() time.Duration
	List() []model.NodeView
	Get(name string) (*model.NodeView, error)
	Lookup(name string) (*model.Node, error)
	SetStatus(ctx context.Context, name, status string) (*model.Node, error)
	Delete(ctx context.Context, name string) error
}

// Services is what the API needs of ECS-style services.
type Services interface {
	// Validate checks a service's spec without the server's state.
	Validate(svc *model.Service) error
	Apply(ctx context.Context, in *model.Service) (*model.Service, string, error)
	CheckTaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error)
	Scale(ctx context.Context, name string, n int) (*model.Service, error)
	Rollback(ctx context.Context, name string) (*model.Service, error)
	Delete(ctx context.Context, name string) (*model.Service, error)
	Get(ctx context.Context, name string) (*model.Service, []*model.Task, error)
	List(ctx context.Context) ([]*model.Service, error)
}

// TaskSource streams task changes for agents' assignment streams.
type TaskSource interface {
	// SubscribeTasks queues every current task and then every change that
	// keep accepts (keep runs on the source's goroutine: it must be cheap).
	SubscribeTasks(keep func(TaskChange) bool) TaskSubscription
}

// TaskChange is one task created (Prev nil), changed, or deleted (Task nil).
type TaskChange struct {
	TaskID     string
	Prev, Task *model.Task
}

// TaskSubscription is a queue of task changes.
type TaskSubscription interface {
	// C is signalled when changes are queued.
	C() <-chan struct{}
	// Drain returns and forgets the queued changes.
	Drain() []TaskChange
	Close()
}

// TokenStore checks bearer tokens and mints join and node tokens.
type TokenStore interface {
	TokenInfo(ctx context.Context, tok string) (auth.Identity, error)
	PutToken(ctx context.Context, tok string, role auth.Role, name string) error
	SetNodeToken(ctx context.Context, node, tok string) error
}
