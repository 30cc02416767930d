package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/autoscaling"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// scalingFeature serves Application Auto Scaling (AWS JSON 1.1, SigV4) and
// the ScalableTarget and ScalingPolicy kinds. Its loop, the autoscaler,
// runs in the controller's election (see coreFeature), fed by the queue
// broker through queueBacklog.
type scalingFeature struct {
	scaling  *controller.Scaling
	aws      *autoscaling.Handler
	policies *store.Cache[model.ScalingPolicy] // which queues the broker publishes backlogs of
}

func newScalingFeature(st *store.Store, queues *queue.Broker, keys *awsKeys, log *slog.Logger) scalingFeature {
	sc := controller.NewScaling(st)
	f := scalingFeature{scaling: sc, aws: autoscaling.NewHandler(sc,
		&targetAuthorized{v: keys.v.For("application-autoscaling"), keys: keys, prefix: "application-autoscaling", code: "AccessDeniedException"}, log), policies: st.ScalingPolicyCache()}
	queues.PublishBacklogs(f.followsQueue)
	return f
}

// followsQueue reports whether a scaling policy follows the queue's
// backlog (so its owner publishes it for the autoscaler).
func (f scalingFeature) followsQueue(name string) bool {
	for _, p := range f.policies.List() {
		if cus := p.Metric().CustomizedMetricSpecification; cus != nil && cus.QueueName() == name {
			return true
		}
	}
	return false
}

func (f scalingFeature) Routes(r api.Routes) {
	r.Protocol(autoscaling.IsRequest, f.aws)
	for pattern, h := range autoscaling.RESTRoutes(f.scaling) {
		r.Handle(pattern, restRole(pattern), h)
	}
}

func (f scalingFeature) Kinds() []api.Kind {
	return []api.Kind{
		{Name: manifest.KindScalableTarget, Applier: autoscaling.TargetApplier{Backend: f.scaling}},
		{Name: manifest.KindScalingPolicy, Applier: autoscaling.PolicyApplier{Backend: f.scaling}},
	}
}

// Run keeps the policy cache followsQueue reads.
func (f scalingFeature) Run(ctx context.Context) error { return f.policies.Run(ctx) }

// queueBacklog gives the autoscaler the queues' backlogs (visible plus
// in-flight messages) and send notifications. For queues this replica
// serves they come from the broker's memory; for the others (the
// controller leader owns only some queue shards) from the backlogs their
// owners publish in etcd (queue.Broker.PublishBacklogs, store.QueueBacklog), watched, so a
// service at zero still wakes on its first message within milliseconds.
type queueBacklog struct {
	b  *queue.Broker
	st *store.Store

	mu    sync.Mutex
	cache *store.Cache[store.QueueBacklog] // running while OnSend is registered
}

func newQueueBacklog(b *queue.Broker, st *store.Store) *queueBacklog {
	return &queueBacklog{b: b, st: st}
}

func (q *queueBacklog) Backlog(ctx context.Context, names []string) (map[string]int, error) {
	out := make(map[string]int, len(names))
	var remote []string
	for _, n := range names {
		if !q.b.OwnsQueue(n) {
			remote = append(remote, n)
			continue
		}
		st, err := q.b.QueueStats(ctx, n)
		if errors.Is(err, queue.ErrNotOwner) || queue.KindOf(err) == queue.KindUnavailable {
			remote = append(remote, n) // its shard moved a moment ago
			continue
		}
		if err == nil {
			out[n] = st[0].Visible + st[0].InFlight
		} // else no such queue (yet): no measurement
	}
	if len(remote) == 0 {
		return out, nil
	}
	q.mu.Lock()
	c := q.cache
	q.mu.Unlock()
	if c == nil {
		return out, errors.New("no published queue backlogs: the autoscaler's watch is not running")
	}
	select {
	case <-c.Ready():
	default:
		return out, errors.New("the published queue backlogs are still loading")
	}
	for _, n := range remote {
		if b := c.Get(n); b != nil {
			out[n] = b.Backlog
		}
	}
	return out, nil
}

// OnSend calls f after sends to a queue this replica owns, and whenever
// the owner publishes a changed backlog (another replica's sends).
func (q *queueBacklog) OnSend(f func(string)) func() {
	cancelLocal := q.b.OnSend(f)
	ctx, cancel := context.WithCancel(context.Background())
	c := q.st.QueueBacklogCache()
	sub := c.SubscribeFilter(func(ch store.Change[store.QueueBacklog]) bool { return ch.Obj != nil })
	q.mu.Lock()
	q.cache = c
	q.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.C():
				for _, ch := range sub.Drain() {
					f(ch.Key)
				}
			}
		}
	})
	return func() {
		cancelLocal()
		cancel()
		sub.Close()
		wg.Wait()
		q.mu.Lock()
		if q.cache == c {
			q.cache = nil
		}
		q.mu.Unlock()
	}
}
