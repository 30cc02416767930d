package function

import (
	"context"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Owner is implemented by a queue broker that serves the queues on one
// replica at a time (pkg/queue's Broker): mappings poll only there.
type Owner interface {
	Owned() bool
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
// mapping, restarting it when the mapping changes and stopping it when
// the mapping is disabled or deleted, while this replica owns the queues.
func (s *Service) runMappings(ctx context.Context, cache *store.Cache[model.StoredMapping]) {
	q, ok := s.cfg.Queues.(Queue)
	if !ok {
		return
	}
	owner, _ := s.cfg.Queues.(Owner)
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
		owned := owner == nil || owner.Owned()
		want := map[string]*model.StoredMapping{}
		if owned {
			for _, m := range cache.List() {
				if m.Enabled == nil || *m.Enabled {
					want[m.UUID] = m
				}
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
			src := QueueSource{Mapping: m.EventSourceMapping, QueueName: m.EventSourceArn[strings.LastIndexByte(m.EventSourceArn, ':')+1:],
				Log: s.log.With("mapping", id)}
			s.log.Info("polling a queue for a function", "mapping", id, "queue", src.QueueName, "function", m.FunctionName)
			go func() {
				defer close(r.done)
				src.Run(mctx, q, syncInvoker{s})
			}()
		}
	}
}
