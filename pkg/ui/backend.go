package ui

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// Backend is what the dashboard reads and changes, in model terms.
// pkg/server adapts the controller, the caches and the queue broker to it.
type Backend interface {
	Nodes() []model.NodeView
	Tasks(f model.TaskFilter) []*model.Task
	Task(ctx context.Context, id string) (*model.Task, error)
	// TaskDefinition returns one revision ("family:revision"); the
	// Queues page reads containers' environment from it.
	TaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error)
	Services(ctx context.Context) ([]*model.Service, error)
	Service(ctx context.Context, name string) (*model.Service, []*model.Task, error)
	Scale(ctx context.Context, name string, n int) error
	Rollback(ctx context.Context, name string) error
	// Queues returns the counts of the queues this replica serves, and
	// ErrElsewhere (with them) naming the replicas serving the others.
	Queues(ctx context.Context) ([]wire.QueueView, error)
	// Topics returns every topic with its subscriptions and their
	// delivery counters; ErrElsewhere when another replica owns them.
	Topics(ctx context.Context) ([]wire.TopicView, error)
	Cluster(ctx context.Context) (Cluster, error)
	// Functions lists the functions with their figures (see
	// FunctionInfo); Function is one with its mappings and REPORT lines.
	Functions(ctx context.Context) ([]FunctionInfo, error)
	Function(ctx context.Context, name string) (*FunctionDetail, error)
	// Logs streams a task's logs through the agent's log endpoint (the
	// same proxy as GET /v1/tasks/{id}/logs).
	Logs(ctx context.Context, taskID string, follow bool, tail int) (io.ReadCloser, error)
}

// FunctionInfo is one function on the Functions pages. Its environment
// variables are given by name only: their values may be secrets, and the
// dashboard (viewers included) never shows them.
type FunctionInfo struct {
	Name, Arn, Image   string
	Role, Description  string
	MemoryMiB, Timeout int  // MiB, seconds
	Reserved           *int // ReservedConcurrentExecutions (nil: none)
	EnvNames           []string
	DeadLetterQueue    string // DeadLetterConfig's queue name ("" none)
	LastModified       time.Time
	// Warm is the environments the agents reported running for it;
	// Inflight its invocations running now (both through this replica).
	Warm, Inflight int
	// Usage is this replica's metering since it started.
	Usage wire.FunctionUsage
}

// FunctionDetail is the function page: the function, its event source
// mappings and its latest REPORT lines (newest first).
type FunctionDetail struct {
	FunctionInfo
	Mappings []*model.StoredMapping
	Reports  []string
}

// ErrElsewhere: the data lives on another replica (its message says which).
var ErrElsewhere = errors.New("ui: served by another replica")

// Cluster is the Cluster page: servers, the leader, etcd.
type Cluster struct {
	// Servers are the ids of the live servers (each campaigns for the
	// controller election), the leader first.
	Servers []string
	Leader  string
	// QueueOwner says which replicas own how many queue shards.
	QueueOwner   string
	EmbeddedEtcd bool
	Members      []EtcdMember
}

// EtcdMember is one etcd member and its health.
type EtcdMember struct {
	ID, Name   string
	ClientURLs []string
	Leader     bool
	Healthy    bool
	Err        string
	DBSize     int64
}

// Viewer is who signed in.
type Viewer struct {
	Name string
	Role string
	// TokenID names the token signed in with (for the audit log).
	TokenID string
	// CanWrite: the role may change the cluster (scale, rollback).
	CanWrite bool
}

// Authenticate checks a token as the /v1 API does; model.ErrNotFound (or
// a wrapped one) for a token that is unknown or may not read.
type Authenticate func(ctx context.Context, token string) (Viewer, error)

// Kinds of change the hub fans out; a page lists the ones it shows.
const (
	KindTasks    = "tasks"
	KindNodes    = "nodes"
	KindServices = "services"
	KindQueues   = "queues"
	KindTopics   = "topics"
	// KindFunctions: functions, mappings or their figures changed.
	KindFunctions = "functions"
)

// queueSample is one point of a queue's chart.
type queueSample struct {
	At                         time.Time
	Visible, InFlight, Delayed int
	OldestAge                  int64
}
