package queue

import (
	"context"
	"errors"

	"github.com/orch-project/orch/pkg/store"
)

// QueueEntry is one message for one queue of a SendEach.
type QueueEntry struct {
	Queue string
	SendEntry
}

// SendEach sends each entry to its queue, all in one durable commit per
// owner of the queues (grouped with concurrent writes as every send is):
// a topic's fan-out of one publish to ten queues is one etcd transaction,
// not ten. Entries fail one by one, as in a batch: errs[i] is entry i's
// error (a queue *Error), and errs is nil when every entry was sent. An
// entry is receivable by the time SendEach returns with no error for it.
//
// Entries for the same queue keep their order.
func (b *Broker) SendEach(ctx context.Context, es []QueueEntry) (errs []error) {
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(es))
		}
		errs[i] = err
	}
	// Split the entries by queue, keeping each queue's order.
	type share struct {
		idx []int
		es  []SendEntry
	}
	var names []string
	shares := map[string]*share{}
	for i, e := range es {
		sh := shares[e.Queue]
		if sh == nil {
			sh = &share{}
			shares[e.Queue] = sh
			names = append(names, e.Queue)
		}
		sh.idx = append(sh.idx, i)
		sh.es = append(sh.es, e.SendEntry)
	}
	// Stage each queue's share, grouping the writes by the owner that
	// commits them.
	type staged struct {
		sb  *sendBatch
		idx []int
	}
	byOwner := map[*owner][]staged{}
	var owners []*owner
	for _, name := range names {
		sh := shares[name]
		o, q, err := b.lookup(ctx, name)
		var sb *sendBatch
		if err == nil {
			sb, err = b.stage(ctx, q, name, sh.es, false)
		}
		if err != nil {
			for _, i := range sh.idx {
				fail(i, err)
			}
			continue
		}
		for k, f := range sb.fails {
			fail(sh.idx[sb.failIdx[k]], f.err)
		}
		if byOwner[o] == nil {
			owners = append(owners, o)
		}
		byOwner[o] = append(byOwner[o], staged{sb, sh.idx})
	}
	for _, o := range owners {
		var n int
		for _, st := range byOwner[o] {
			n += len(st.sb.ops)
		}
		ops := make([]store.QueueOp, 0, n)
		for _, st := range byOwner[o] {
			ops = append(ops, st.sb.ops...)
		}
		err := o.com.commit(ctx, ops...)
		for _, st := range byOwner[o] {
			st.sb.finish(err)
			if err != nil {
				for _, p := range st.sb.pends {
					fail(st.idx[p.idx], err)
				}
			}
		}
	}
	return errs
}

// DeliverEach is SendEach for queues of any shard: entries for queues of
// shards this replica owns go in one commit per shard owner (SendEach);
// the others go through their shard's inbox (Deliver), durable when it
// returns and receivable a moment later. A topic's fan-out uses it, since
// its subscribed queues may live on other replicas.
func (b *Broker) DeliverEach(ctx context.Context, es []QueueEntry) (errs []error) {
	var local []QueueEntry
	var localIdx []int
	for i, e := range es {
		if b.ownsShard(b.shardOf(e.Queue)) {
			local = append(local, e)
			localIdx = append(localIdx, i)
			continue
		}
		if _, err := b.Deliver(ctx, e.Queue, e.SendEntry); err != nil {
			if errs == nil {
				errs = make([]error, len(es))
			}
			errs[i] = err
		}
	}
	if len(local) == 0 {
		return errs
	}
	lerrs := b.SendEach(ctx, local)
	for k, err := range lerrs {
		if err == nil {
			continue
		}
		i := localIdx[k]
		// The shard moved between the check and the commit: the inbox
		// still takes it.
		if errors.Is(err, ErrNotOwner) || KindOf(err) == KindUnavailable {
			if _, err = b.Deliver(ctx, es[i].Queue, es[i].SendEntry); err == nil {
				continue
			}
		}
		if errs == nil {
			errs = make([]error, len(es))
		}
		errs[i] = err
	}
	return errs
}
