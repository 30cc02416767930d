package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/sqs"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/queue/qlog"
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

func newQueuesFeature(st *store.Store, advertiseURL, logDir string, keys *awsKeys, log *slog.Logger) queuesFeature {
	q := queue.New(st, queue.Options{AdvertiseURL: advertiseURL, Logger: log, LogDir: logDir})
	return queuesFeature{queues: q, aws: sqs.NewHandler(q, keys.v.For("sqs"), log).WithAuthorizer(keys)}
}

// queueLogDir is where the queue shards' segment logs go ("" for the
// etcd store): the local store is the default with the embedded etcd,
// which no other replica can join, so a shard never moves to another
// disk. With external etcd the shards move between replicas and their
// messages stay in etcd.
func queueLogDir(o Config) (string, error) {
	switch o.QueueStore {
	case "etcd":
		if o.DataDir != "" && len(o.EtcdEndpoints) == 0 {
			return "", refuseLocalMessages(filepath.Join(o.DataDir, "queues"))
		}
		return "", nil
	case "", "local":
		if len(o.EtcdEndpoints) > 0 {
			if o.QueueStore == "local" {
				return "", errors.New("--queue-store local needs the embedded etcd (a single server): with --etcd-endpoints queue shards move between replicas, so their messages stay in etcd; drop --queue-store or pass --queue-store etcd")
			}
			return "", nil
		}
		if o.DataDir == "" {
			return "", errors.New("--queue-store local needs --data-dir (the logs go in DATA_DIR/queues)")
		}
		return filepath.Join(o.DataDir, "queues"), nil
	default:
		return "", fmt.Errorf("--queue-store %q: want local or etcd", o.QueueStore)
	}
}

// refuseLocalMessages fails when the local store's logs in dir still hold
// messages: the etcd store would not see them (they would be stranded, not
// lost, but a queue would look empty).
func refuseLocalMessages(dir string) error {
	shards, _ := filepath.Glob(filepath.Join(dir, "shard-*"))
	for _, d := range shards {
		l, err := qlog.Open(d, qlog.Options{}, nil)
		if err != nil {
			return fmt.Errorf("--queue-store etcd: checking the local queue logs in %s: %w", dir, err)
		}
		n := len(l.Queues())
		l.Close()
		if n > 0 {
			return fmt.Errorf("--queue-store etcd: %s holds messages of %d queue(s) in the local store, which the etcd store would not see; start with --queue-store local (the default) and drain those queues first", d, n)
		}
	}
	return nil
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
