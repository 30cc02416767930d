package queue

import (
	"context"
	"errors"
	"sync"

	"github.com/orch-project/orch/pkg/store"
)

// QueueEntry is one message for one queue of a SendEach.
type QueueEntry struct {
	Queue string
	SendEntry
}

// SendEach sends each entry to its queue, all in one durable commit per
// owner of the queues (grouped with concurrent writes as every send is;
// the owners' commits run side by side):
// a topic's fan-out of one publish to ten queues is one etcd transaction
// per shard among them, not ten, and those run at once. Entries fail one by one, as in a batch: errs[i] is entry i's
// error (a queue *Error), and errs is nil when every entry was sent. An
// entry is receivable by the time SendEach returns with no error for it.
//
// Entries for the same queue keep their order.
func (b *Broker) SendEach(ctx context.Context, es []QueueEntry) (errs []error) {
	e := b.stageEach(ctx, es)
	// One commit per owner (each carries its shard's guard), all under
	// way at once: the shards' transactions reach etcd together and share
	// its fsyncs, so a fan-out over several shards costs about one
	// commit's latency, not one per shard in a row.
	// Each owner's messages become receivable as soon as its commit is in.
	cerrs := make([]error, len(e.owners))
	commit := func(k int, o *owner) {
		err := o.com.commit(ctx, e.ops(o)...)
		for _, st := range e.byOwner[o] {
			st.sb.finish(err)
		}
		cerrs[k] = err
	}
	var wg sync.WaitGroup
	for k, o := range e.owners[:max(0, len(e.owners)-1)] {
		wg.Go(func() { commit(k, o) })
	}
	if len(e.owners) > 0 {
		commit(len(e.owners)-1, e.owners[len(e.owners)-1])
	}
	wg.Wait()
	e.failCommits(cerrs)
	return e.errs
}

// SendEachEarly is SendEach for a caller that holds its own durable copy
// of the entries until the queues have theirs (a topic's message record,
// which it deletes only after wait): it does not wait for the commits. The
// entries of standard queues are receivable when it returns, while their
// commits are still under way; wait returns once every commit ended, with
// errs as SendEach's (errs[i] non-nil: entry i is not in its queue, or
// its commit failed, and the caller must send it again from its copy; a
// consumer may have received it meanwhile, so that can deliver it twice,
// never zero times). After a failed commit the entries' writes are undone
// (a failed commit may still have landed) and the entries taken out of
// the queue again; if the undo fails too they stay receivable.
//
// Receiving a message before its commit ended is safe because the send
// was submitted to its shard's single commit pipeline first: a consumer's
// delete goes in the same transaction after it, or in a later one, so a
// durable delete never precedes its message. FIFO queues, and a broker
// running several commit pipelines per shard, show the entries only once
// committed.
func (b *Broker) SendEachEarly(ctx context.Context, es []QueueEntry) (wait func() []error) {
	e := b.stageEach(ctx, es)
	early := b.opts.CommitPipelines == 1
	waits := make([]func() error, len(e.owners))
	for k, o := range e.owners {
		waits[k] = o.com.Submit(ctx, e.ops(o)...)
		if !early {
			continue
		}
		for _, st := range e.byOwner[o] {
			if !st.sb.fifo {
				st.sb.show()
			}
		}
	}
	done := make(chan []error, 1)
	go func() {
		cerrs := make([]error, len(e.owners))
		// Each owner's wait on a goroutine of its own (the last on this
		// one): a commit runs on a goroutine waiting for it
		// (internal/groupcommit), so waiting for the shards in turn would
		// commit them in turn, and hold every later shard's entries (shown
		// or not) behind the first one's commit.
		var wg sync.WaitGroup
		settle := func(k int, o *owner) {
			err := waits[k]()
			// A failed commit may have landed all the same (its answer
			// lost): before the shown copies leave memory, where a
			// consumer's delete of one would then do nothing and be
			// acknowledged, their writes are undone behind them in the
			// pipeline. If even that fails they stay: receivable,
			// deletable, and sent again by the caller (twice, never lost).
			takeBack := false
			if err != nil && early {
				var undo []store.QueueOp
				for _, st := range e.byOwner[o] {
					if !st.sb.fifo {
						undo = append(undo, st.sb.undoOps()...)
					}
				}
				uerr := o.com.commit(context.WithoutCancel(ctx), undo...)
				if uerr != nil {
					b.log.Warn("undoing the failed send of messages already receivable failed; they stay receivable", "err", uerr, "sendErr", err)
				}
				takeBack = uerr == nil
			}
			for _, st := range e.byOwner[o] {
				if early && !st.sb.fifo {
					st.sb.settle(takeBack)
				} else {
					st.sb.finish(err)
				}
			}
			cerrs[k] = err
		}
		for k, o := range e.owners[:max(0, len(e.owners)-1)] {
			wg.Go(func() { settle(k, o) })
		}
		if len(e.owners) > 0 {
			settle(len(e.owners)-1, e.owners[len(e.owners)-1])
		}
		wg.Wait()
		e.failCommits(cerrs)
		done <- e.errs
	}()
	return func() []error { return <-done }
}

// eachStage is a SendEach's entries split by queue, each queue's share
// staged, grouped by the owner that commits them.
type eachStage struct {
	n       int
	errs    []error // nil until an entry fails
	owners  []*owner
	byOwner map[*owner][]staged
}

type staged struct {
	sb  *sendBatch
	idx []int // indexes in the SendEach of sb's entries
}

func (e *eachStage) fail(i int, err error) {
	if e.errs == nil {
		e.errs = make([]error, e.n)
	}
	e.errs[i] = err
}

// ops is o's share of the writes, in entry order per queue.
func (e *eachStage) ops(o *owner) []store.QueueOp {
	var n int
	for _, st := range e.byOwner[o] {
		n += len(st.sb.ops)
	}
	ops := make([]store.QueueOp, 0, n)
	for _, st := range e.byOwner[o] {
		ops = append(ops, st.sb.ops...)
	}
	return ops
}

// failCommits fails the entries of the owners whose commit failed
// (cerrs[k] is e.owners[k]'s).
func (e *eachStage) failCommits(cerrs []error) {
	for k, o := range e.owners {
		if cerrs[k] == nil {
			continue
		}
		for _, st := range e.byOwner[o] {
			for _, p := range st.sb.pends {
				e.fail(st.idx[p.idx], cerrs[k])
			}
		}
	}
}

func (b *Broker) stageEach(ctx context.Context, es []QueueEntry) *eachStage {
	e := &eachStage{n: len(es), byOwner: map[*owner][]staged{}}
	// Split the entries by queue, keeping each queue's order.
	type share struct {
		idx []int
		es  []SendEntry
	}
	var names []string
	shares := map[string]*share{}
	for i, qe := range es {
		sh := shares[qe.Queue]
		if sh == nil {
			sh = &share{}
			shares[qe.Queue] = sh
			names = append(names, qe.Queue)
		}
		sh.idx = append(sh.idx, i)
		sh.es = append(sh.es, qe.SendEntry)
	}
	for _, name := range names {
		sh := shares[name]
		o, q, err := b.lookup(ctx, name)
		var sb *sendBatch
		if err == nil {
			sb, err = b.stage(ctx, q, name, sh.es, false)
		}
		if err != nil {
			for _, i := range sh.idx {
				e.fail(i, err)
			}
			continue
		}
		for k, f := range sb.fails {
			e.fail(sh.idx[sb.failIdx[k]], f.err)
		}
		if e.byOwner[o] == nil {
			e.owners = append(e.owners, o)
		}
		e.byOwner[o] = append(e.byOwner[o], staged{sb, sh.idx})
	}
	return e
}

// DeliverEachEarly is SendEachEarly for queues of any shard: entries for
// queues of shards this replica owns go through SendEachEarly; the others
// through their shard's inbox (Deliver: durable once it returns,
// receivable a moment later), written after it returned. A topic's
// fan-out uses it, since its subscribed queues may live on other replicas.
func (b *Broker) DeliverEachEarly(ctx context.Context, es []QueueEntry) (wait func() []error) {
	var local []QueueEntry
	var localIdx, remote []int
	for i, e := range es {
		if b.ownsShard(b.shardOf(e.Queue)) {
			local = append(local, e)
			localIdx = append(localIdx, i)
		} else {
			remote = append(remote, i)
		}
	}
	lwait := func() []error { return nil }
	if len(local) > 0 {
		lwait = b.SendEachEarly(ctx, local)
	}
	// The inbox writes are the caller's background: its request may end
	// before they do.
	bctx := context.WithoutCancel(ctx)
	done := make(chan []error, 1)
	go func() {
		var errs []error
		fail := func(i int, err error) {
			if errs == nil {
				errs = make([]error, len(es))
			}
			errs[i] = err
		}
		for _, i := range remote {
			if _, err := b.Deliver(bctx, es[i].Queue, es[i].SendEntry); err != nil {
				fail(i, err)
			}
		}
		for k, err := range lwait() {
			if err == nil {
				continue
			}
			i := localIdx[k]
			// The shard moved between the check and the commit: the
			// inbox still takes it.
			if errors.Is(err, ErrNotOwner) || KindOf(err) == KindUnavailable {
				if _, err = b.Deliver(bctx, es[i].Queue, es[i].SendEntry); err == nil {
					continue
				}
			}
			fail(i, err)
		}
		done <- errs
	}()
	return func() []error { return <-done }
}
