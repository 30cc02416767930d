package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// Results go back to the server in batches: a sender takes what has
// finished since its last request and posts it in one. An idle agent
// sends each result at once (a batch of one); under load one request
// carries many, which saves the server and the agent a request's worth of
// HTTP, TLS and authentication per invocation.
//
// One sender per server carries the small results: one post in flight, so
// what finishes meanwhile waits for it and goes in the next (about 4
// results a post at 16 concurrent invocations, against 2.7 with two
// senders taking turns). Results of bulkResult bytes or more have a
// sender of their own, so that a megabytes-long post does not hold up
// the small answers behind it, nor they it.
const (
	resultQueue      = 4096     // small results waiting for their sender
	bulkResult       = 64 << 10 // payload and logs from which a result takes the bulk lane
	bulkQueue        = 64       // large results waiting for theirs (each holds 64 KiB or more)
	maxBatchResults  = 256      // results in one batch
	maxBatchBytes    = 4 << 20  // payload and logs in one batch (a larger result goes alone)
	resultAttempts   = 3        // tries per batch before the results are given up (while the agent runs)
	resultRetryDelay = 50 * time.Millisecond
	// drainRetryMax caps the pause between tries while the agent stops:
	// then a batch is retried until FunctionsConfig.FlushTimeout ends the
	// drain, since no later chance to deliver it comes.
	drainRetryMax = time.Second
)

// resultPostTimeout bounds one try of a post (plus a second per MiB it
// carries): one sender carries a server's small results, so a request
// stuck on a connection that died without a reset would otherwise hold
// every result behind it for the client's whole timeout. The server takes
// a result twice without harm (it skips answers nobody waits for). A
// variable for tests.
var resultPostTimeout = 10 * time.Second

type pendingResult struct {
	function string
	res      wire.InvocationResult
}

// resultSender delivers one server's results.
type resultSender struct {
	a  *Agent
	cp FunctionControlPlane
	q  chan pendingResult // small results
	// bulk: results of bulkResult bytes or more.
	bulk chan pendingResult
	// single: the server takes no batches (or the control plane cannot
	// send them); results go one by one as POST .../invocations/{id}.
	single atomic.Bool
	// draining: the agent is stopping; a failed post is retried until
	// the drain's context ends instead of resultAttempts times.
	draining atomic.Bool
}

func newResultSender(a *Agent, cp FunctionControlPlane) *resultSender {
	rs := &resultSender{a: a, cp: cp, q: make(chan pendingResult, resultQueue), bulk: make(chan pendingResult, bulkQueue)}
	if _, ok := cp.(ResultBatcher); !ok {
		rs.single.Store(true)
	}
	return rs
}

// send queues a result; when the queue is full the caller delivers it
// itself (the invocations are then far ahead of the senders anyway).
func (rs *resultSender) send(ctx context.Context, fn string, res wire.InvocationResult) {
	q := rs.q
	if len(res.Payload)+len(res.Logs) >= bulkResult {
		q = rs.bulk
	}
	select {
	case q <- pendingResult{function: fn, res: res}:
	default:
		rs.post(ctx, []pendingResult{{function: fn, res: res}})
	}
}

// held is how many results wait for a sender.
func (rs *resultSender) held() int { return len(rs.q) + len(rs.bulk) }

// run runs the senders until ctx ends. Once flushed is closed (every
// invocation ended: what still comes is the refusal of an invocation a
// stream brought during the drain) and both queues are empty, it calls
// drained (nil: none): everything so far is posted (or ctx ended). The
// senders go on
// posting what comes until ctx ends, because the streams stay open until
// every server took its results (or FlushTimeout): a refusal left in the
// queue would leave its caller waiting for the stream to close, for an
// error, instead of being placed on another agent.
func (rs *resultSender) run(ctx context.Context, flushed <-chan struct{}, drained func()) {
	var senders, lanes sync.WaitGroup
	for _, q := range []chan pendingResult{rs.q, rs.bulk} {
		lanes.Add(1)
		senders.Go(func() { rs.sendFrom(ctx, q, flushed, sync.OnceFunc(lanes.Done)) })
	}
	if drained != nil {
		senders.Go(func() { lanes.Wait(); drained() })
	}
	senders.Wait()
}

// sendFrom posts q's results in batches, one batch at a time, until ctx
// ends; it calls empty once flushed is closed and q is empty (or on its
// return).
func (rs *resultSender) sendFrom(ctx context.Context, q chan pendingResult, flushed <-chan struct{}, empty func()) {
	defer empty()
	var batch []pendingResult
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-q:
			batch = append(batch[:0], p)
		case <-flushed:
			select {
			case p := <-q:
				batch = append(batch[:0], p)
			default:
				empty() // all posted
				flushed = nil
				continue
			}
		}
		size := len(batch[0].res.Payload) + len(batch[0].res.Logs)
	more:
		for len(batch) < maxBatchResults && size < maxBatchBytes {
			select {
			case p := <-q:
				batch = append(batch, p)
				size += len(p.res.Payload) + len(p.res.Logs)
			default:
				break more
			}
		}
		rs.post(ctx, batch)
		clear(batch) // drop the payloads
	}
}

// post delivers a batch, retrying a failed request a few times (a result
// the server no longer waits for is no error: the caller timed out).
func (rs *resultSender) post(ctx context.Context, batch []pendingResult) {
	if !rs.single.Load() {
		b := rs.cp.(ResultBatcher)
		out := make([]wire.InvocationResult, len(batch))
		size := 0
		for i := range batch {
			out[i] = batch[i].res
			size += len(out[i].Payload) + len(out[i].Logs)
		}
		err := rs.retry(ctx, size, func(ctx context.Context) error { return b.InvocationResults(ctx, rs.a.node, out) })
		if !errors.Is(err, client.ErrNoResultBatches) {
			if err != nil && ctx.Err() == nil {
				rs.a.log.Warn("cannot deliver invocation results", "results", len(batch), "err", err)
			}
			return
		}
		rs.a.log.Info("the server takes no batches of invocation results: sending them one by one")
		rs.single.Store(true)
	}
	for _, p := range batch {
		err := rs.retry(ctx, len(p.res.Payload)+len(p.res.Logs), func(ctx context.Context) error {
			return rs.cp.InvocationResult(ctx, rs.a.node, p.res.RequestID, p.res)
		})
		if err != nil && ctx.Err() == nil {
			rs.a.log.Warn("cannot deliver an invocation's result", "function", p.function, "requestId", p.res.RequestID, "err", err)
		}
	}
}

// retry runs do until it succeeds or the tries are spent, each try
// bounded by resultPostTimeout for size bytes.
func (rs *resultSender) retry(ctx context.Context, size int, do func(context.Context) error) error {
	timeout := resultPostTimeout + time.Duration(size>>20)*time.Second
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		err := do(tctx)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, client.ErrNoResultBatches) ||
			attempt >= resultAttempts && !rs.draining.Load() {
			return err
		}
		sleepCtx(ctx, min(time.Duration(attempt)*resultRetryDelay, drainRetryMax))
	}
}
