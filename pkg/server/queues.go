package server

import (
	"context"
	"log/slog"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/sqs"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
	"github.com/prometheus/client_golang/prometheus"
)

// queuesFeature serves queues: SQS (JSON and query protocols), /v1/queues
// and the Queue kind. The queues are spread over the replicas in shards
// (pkg/queue); a replica forwards requests for a queue of another's shard
// to that owner, so every replica answers every protocol. This file is the one place that wires pkg/queue and
// pkg/api/sqs into the server.
type queuesFeature struct {
	queues *queue.Broker
	aws    *sqs.Handler
}

func newQueuesFeature(st *store.Store, advertiseURL string, keys *awsKeys, log *slog.Logger) queuesFeature {
	q := queue.New(st, queue.Options{AdvertiseURL: advertiseURL, Logger: log})
	return queuesFeature{queues: q, aws: sqs.NewHandler(q, keys.v.For("sqs"), log).WithAuthorizer(keys)}
}

func (f queuesFeature) Routes(r api.Routes) {
	r.Protocol(sqs.IsSQSRequest, f.aws)
	for pattern, h := range sqs.NewREST(f.queues, f.aws).Routes() {
		r.Handle(pattern, restRole(pattern), h)
	}
}

func (f queuesFeature) Kinds() []api.Kind {
	return []api.Kind{{Name: manifest.KindQueue, Applier: sqs.NewApplier(f.queues, f.aws)}}
}

func (f queuesFeature) Run(ctx context.Context) error { return f.queues.Run(ctx) }

// register exports how many queue shards this replica serves, so an
// operator sees them spread (and move after a failure) on /metrics.
func (f queuesFeature) register(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orch_queue_shards_owned",
		Help: "Queue shards this server replica owns (it serves their queues; the others forward to it).",
	}, func() float64 { return float64(f.queues.ShardsOwned()) }))
}
