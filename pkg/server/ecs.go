package server

import (
	"context"
	"log/slog"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/ecs"
)

// ecsFeature serves the Amazon ECS API (JSON 1.1, SigV4): a second door
// onto the task definitions, tasks, services and nodes the core and
// services features serve, through the same controller objects. It has no
// kinds and no loops of its own.
type ecsFeature struct{ h *ecs.Handler }

func newECSFeature(keys *awsKeys, b ecs.Backends, log *slog.Logger) ecsFeature {
	// With the ECS API a task could run tasks or drain nodes: a task's key
	// may call only the ecs:* actions its role allows.
	return ecsFeature{ecs.NewHandler(b, &targetAuthorized{v: keys.v.For("ecs"), keys: keys, prefix: "ecs", code: "AccessDeniedException"}, log)}
}

func (f ecsFeature) Routes(r api.Routes)         { r.Protocol(ecs.IsECSRequest, f.h) }
func (ecsFeature) Kinds() []api.Kind             { return nil }
func (ecsFeature) Run(ctx context.Context) error { return nil }
