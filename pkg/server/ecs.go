package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/ecs"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/store"
)

// ecsFeature serves the Amazon ECS API (JSON 1.1, SigV4): a second door
// onto the task definitions, tasks, services and nodes the core and
// services features serve, through the same controller objects. It has no
// kinds and no loops of its own.
type ecsFeature struct{ h *ecs.Handler }

func newECSFeature(st *store.Store, b ecs.Backends, log *slog.Logger) ecsFeature {
	a := &adminOnly{st: st}
	a.v = awsauth.New(func(ctx context.Context, id string) (string, error) {
		k, err := st.GetAWSKey(ctx, id)
		if err != nil {
			return "", err
		}
		a.roles.Store(id, k.Role) // read with the secret, so checking it costs no second etcd read
		return k.SecretAccessKey, nil
	}, awsauth.Options{}).For("ecs")
	return ecsFeature{ecs.NewHandler(b, a, log)}
}

func (f ecsFeature) Routes(r api.Routes)         { r.Protocol(ecs.IsECSRequest, f.h) }
func (ecsFeature) Kinds() []api.Kind             { return nil }
func (ecsFeature) Run(ctx context.Context) error { return nil }

// adminOnly lets only admin access keys call the ECS API. Every task
// container holds the task access key (for queues); with the ECS API it
// could run tasks or drain nodes, so a valid signature is not enough.
type adminOnly struct {
	v     awsproto.Verifier
	st    *store.Store
	roles sync.Map // access key id -> auth.Role, recorded by the verifier's lookups
}

func (a *adminOnly) Verify(r *http.Request, body []byte) error {
	if err := a.v.Verify(r, body); err != nil {
		return err
	}
	id := awsproto.AccessKeyID(r)
	role, ok := a.roles.Load(id)
	if !ok {
		k, err := a.st.GetAWSKey(r.Context(), id)
		if err != nil {
			return &awsproto.Error{Code: "ServerException", Status: http.StatusServiceUnavailable, Message: "Looking up the access key failed; retry: " + err.Error()}
		}
		role = k.Role
	}
	if err := auth.Permit(auth.RoleAdmin, auth.Identity{Role: role.(auth.Role), Name: id}, ""); err != nil {
		return &awsproto.Error{Code: "AccessDeniedException", Status: http.StatusForbidden,
			Message: fmt.Sprintf("Access key %s (role %s) may not call the ECS API: use the cluster's admin AWS key (orch aws-env).", id, role)}
	}
	return nil
}
