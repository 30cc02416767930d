package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/autoscaling"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// scalingFeature serves Application Auto Scaling (AWS JSON 1.1, SigV4) and
// the ScalableTarget and ScalingPolicy kinds. Its loop, the autoscaler,
// runs in the controller's election (see coreFeature), fed by the queue
// broker through queueBacklog.
type scalingFeature struct {
	scaling *controller.Scaling
	aws     *autoscaling.Handler
}

func newScalingFeature(st *store.Store, log *slog.Logger) scalingFeature {
	sc := controller.NewScaling(st)
	return scalingFeature{scaling: sc, aws: autoscaling.NewHandler(sc, newSigV4(st).v, log)}
}

func (f scalingFeature) Routes(r api.Routes) {
	r.Protocol(autoscaling.IsRequest, f.aws)
	for pattern, h := range autoscaling.RESTRoutes(f.scaling) {
		r.Handle(pattern, auth.RoleAdmin, h)
	}
}

func (f scalingFeature) Kinds() []api.Kind {
	return []api.Kind{
		{Name: manifest.KindScalableTarget, Applier: autoscaling.TargetApplier{Backend: f.scaling}},
		{Name: manifest.KindScalingPolicy, Applier: autoscaling.PolicyApplier{Backend: f.scaling}},
	}
}

func (scalingFeature) Run(context.Context) error { return nil }

// queueBacklog gives the autoscaler the broker's backlogs (visible plus
// in-flight messages) and send notifications. Backlogs are known on the
// replica that owns the queues; elsewhere the queue policies abstain.
type queueBacklog struct{ b *queue.Broker }

func (q queueBacklog) Backlog(ctx context.Context, names []string) (map[string]int, error) {
	out := make(map[string]int, len(names))
	for _, n := range names {
		st, err := q.b.QueueStats(ctx, n)
		if err != nil {
			if errors.Is(err, queue.ErrNotOwner) {
				return out, err
			}
			continue // no such queue (yet): no measurement
		}
		out[n] = st[0].Visible + st[0].InFlight
	}
	return out, nil
}

func (q queueBacklog) OnSend(f func(string)) func() { return q.b.OnSend(f) }
