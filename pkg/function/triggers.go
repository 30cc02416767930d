package function

import (
	"context"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Owner is implemented by a queue broker that serves each queue on one
// replica at a time (pkg/queue's Broker: the replica holding the queue's
// shard). A mapping's poller runs on the replica owning its queue, where
// receiving and deleting are calls in process, and moves with the shard;
// Event invocations of a function are delivered by the replica owning the
// shard the function's name falls in, so the replicas share them out and
// each runs exactly the ones it owns.
type Owner interface {
	OwnsQueue(name string) bool
}

// owns reports whether this replica serves the queue (or the function's
// Event invocations) called name: always without a sharded broker.
func (s *Service) owns(name string) bool {
	o, ok := s.cfg.Queues.(Owner)
	return !ok || o.OwnsQueue(name)
}

// syncInvoker runs a queue batch through Service.Invoke (RequestResponse).
type syncInvoker struct{ s *Service }

func (i syncInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, bool, error) {
	r, err := i.s.Invoke(ctx, fn, payload, RequestResponse, false)
	if err != nil {
		return nil, false, err
	}
	return r.Payload, r.FunctionError != "", nil
}

// runMappings keeps one QueueSource running per enabled event source
// mapping whose queue this replica owns, restarting it when the mapping
// changes and stopping it when the mapping is disabled or deleted or the
// queue's shard moves to another replica (looked at every second: a
// replica that died hands its shards over within its lease's TTL, and
// the new owner's poller starts within a second of that).
func (s *Service) runMappings(ctx context.Context, cache *store.Cache[model.StoredMapping]) {
	q, ok := s.cfg.Queues.(Queue)
	if !ok {
		return
	}
	type running struct {
		rev    int64
		cancel context.CancelFunc
		done   chan struct{}
	}
	active := map[string]*running{}
	stop := func(id string) {
		if r := active[id]; r != nil {
			r.cancel()
			<-r.done
			delete(active, id)
		}
	}
	defer func() {
		for id := range active {
			stop(id)
		}
	}()
	sub := cache.Subscribe()
	defer sub.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.C():
			sub.Drain()
		case <-tick.C:
		}
		want := map[string]*model.StoredMapping{}
		for _, m := range cache.List() {
			if (m.Enabled == nil || *m.Enabled) && s.owns(queueName(m.EventSourceArn)) {
				want[m.UUID] = m
			}
		}
		for id, r := range active {
			if m := want[id]; m == nil || m.ModRevision != r.rev {
				stop(id)
			}
		}
		for id, m := range want {
			if active[id] != nil {
				continue
			}
			mctx, cancel := context.WithCancel(ctx)
			r := &running{rev: m.ModRevision, cancel: cancel, done: make(chan struct{})}
			active[id] = r
			src := QueueSource{Mapping: m.EventSourceMapping, QueueName: queueName(m.EventSourceArn),
				Log: s.log.With("mapping", id)}
			s.log.Info("polling a queue for a function", "mapping", id, "queue", src.QueueName, "function", m.FunctionName)
			go func() {
				defer close(r.done)
				src.Run(mctx, q, syncInvoker{s})
			}()
		}
	}
}

// queueName is the name in a queue's ARN.
func queueName(arn string) string { return arn[strings.LastIndexByte(arn, ':')+1:] }
