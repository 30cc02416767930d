package server

import (
	"context"
	"log/slog"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/api/ecs"
	"github.com/orch-project/orch/pkg/store"
)

// ecsFeature serves the Amazon ECS API (JSON 1.1, SigV4 with the cluster's
// AWS keys): a second door onto the task definitions, tasks, services and
// nodes the core and services features serve, through the same
// controller objects. It has no kinds and no loops of its own.
type ecsFeature struct{ h *ecs.Handler }

func newECSFeature(st *store.Store, b ecs.Backends, log *slog.Logger) ecsFeature {
	verifier := awsauth.New(func(ctx context.Context, id string) (string, error) {
		k, err := st.GetAWSKey(ctx, id)
		if err != nil {
			return "", err
		}
		return k.SecretAccessKey, nil
	}, awsauth.Options{})
	return ecsFeature{ecs.NewHandler(b, verifier, log)}
}

func (f ecsFeature) Routes(r api.Routes)         { r.Protocol(ecs.IsECSRequest, f.h) }
func (ecsFeature) Kinds() []api.Kind             { return nil }
func (ecsFeature) Run(ctx context.Context) error { return nil }
