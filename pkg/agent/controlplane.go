package agent

import (
	"context"

	"github.com/orch-project/orch/pkg/api/wire"
)

// ControlPlane is what the agent needs from the orch server. pkg/api/client
// implements it over HTTP; tests use an in-memory fake.
type ControlPlane interface {
	// Register joins (or re-joins) the cluster.
	Register(ctx context.Context, req wire.RegisterRequest) (wire.RegisterResponse, error)
	// Heartbeat keeps the node alive. An error wrapping ErrUnknownNode means
	// the control plane forgot the node and the agent must register again.
	Heartbeat(ctx context.Context, node string) error
	// Assignments streams the node's assignments: a snapshot first, then
	// changes, until ctx ends or the connection breaks (the channel closes and
	// the error channel yields why).
	Assignments(ctx context.Context, node string) (<-chan wire.AssignmentEvent, <-chan error)
	// ReportStatus sends observed task states, batched.
	ReportStatus(ctx context.Context, node string, reports []wire.TaskStatusReport) error
}
