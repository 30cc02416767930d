package server

import (
	"context"
	"log/slog"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/sns"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
	"github.com/orch-project/orch/pkg/topic"
)

// topicsFeature serves topics: SNS (query protocol), /v1/topics and the
// Topic kind. Topics follow the owner of the queues' topic shard
// (queue.TopicShard); other replicas forward SNS requests to it. Deliveries
// to queues of the shards it owns stay in-process; those to other shards go
// durably through their inboxes (queue.Broker.Deliver). This file is the
// one place that wires pkg/topic and pkg/api/sns into the server.
type topicsFeature struct {
	topics *topic.Service
	aws    *sns.Handler
}

func newTopicsFeature(st *store.Store, queues *queue.Broker, functions topic.FunctionInvoker, advertiseURL string, keys *awsKeys, log *slog.Logger, smtp *topic.SMTP) topicsFeature {
	t := topic.New(st, topic.Options{Ownership: queues, Queues: anyShard{queues}, Functions: functions, BaseURL: advertiseURL, Logger: log, SMTP: smtp})
	return topicsFeature{topics: t, aws: sns.NewHandler(t, keys.v.For("sns"), log).WithAuthorizer(keys)}
}

func (f topicsFeature) Routes(r api.Routes) {
	r.Protocol(sns.IsSNSRequest, f.aws)
	r.Protocol(sns.IsCertRequest, sns.CertHandler(f.topics))
	for pattern, h := range sns.NewREST(f.topics, f.aws).Routes() {
		r.Handle(pattern, restRole(pattern), h)
	}
}

func (f topicsFeature) Kinds() []api.Kind {
	return []api.Kind{{Name: manifest.KindTopic, Applier: sns.NewApplier(f.topics, f.aws)}}
}

func (f topicsFeature) Run(ctx context.Context) error { return f.topics.Run(ctx) }

// anyShard delivers topic messages to queues of any shard.
type anyShard struct{ b *queue.Broker }

func (a anyShard) SendMessage(ctx context.Context, name string, e queue.SendEntry) (*queue.SendResult, error) {
	return a.b.Deliver(ctx, name, e)
}

func (a anyShard) SendEachEarly(ctx context.Context, es []queue.QueueEntry) func() []error {
	return a.b.DeliverEachEarly(ctx, es)
}
