package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
)

// session registers, then heartbeats and follows the assignment stream
// until ctx ends or the control plane forgets the node, in which case it
// registers again. It returns an error only when the control plane rejects
// the node's credentials.
func (a *Agent) session(ctx context.Context) error {
	for {
		resp, err := a.register(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		interval := a.cfg.HeartbeatInterval
		if interval <= 0 {
			interval = resp.HeartbeatInterval
		}
		if interval <= 0 {
			interval = DefaultHeartbeatInterval
		}
		a.hbInterval.Store(int64(interval))
		sctx, scancel := context.WithCancel(ctx)
		var once sync.Once
		lost := make(chan struct{})
		relost := func() { once.Do(func() { close(lost) }) }
		a.rep.onUnknownNode.Store(&relost)
		a.rep.poke()
		// healed tells the assignment follower that heartbeats got through
		// again after failures, so it reconnects now rather than after
		// its backoff (which may have grown to maxBackoff while the node
		// was cut off): a node that comes back stops its replaced tasks
		// within a heartbeat of the network returning.
		healed := make(chan struct{}, 1)
		var wg sync.WaitGroup
		wg.Go(func() { a.heartbeat(sctx, interval, relost, healed) })
		wg.Go(func() { a.followAssignments(sctx, relost, healed) })
		wg.Go(func() { a.renewLogCert(sctx) })
		select {
		case <-ctx.Done():
		case <-lost:
			a.log.Warn("the control plane no longer knows this node; registering again")
		}
		scancel()
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// register retries with backoff until it succeeds, ctx ends or the control
// plane rejects the credentials.
func (a *Agent) register(ctx context.Context) (wire.RegisterResponse, error) {
	b := newBackoff(a.minBackoff, a.maxBackoff)
	for attempt := 1; ; attempt++ {
		req, err := a.registerRequest(ctx)
		var resp wire.RegisterResponse
		if err == nil {
			resp, err = a.cp.Register(ctx, req)
		}
		if err == nil {
			if terr := a.logTLS.adopt(resp, a.cfg.CABundle); terr != nil {
				// Logs would be unreachable (the server accepts only
				// TLS with a certificate naming this node).
				a.log.Error("cannot serve logs over TLS with the certificate the control plane issued; orch logs will fail for this node", "err", terr)
			}
			a.mu.Lock()
			a.serverEnv = resp.Env
			if resp.ClusterID != "" {
				a.cluster = resp.ClusterID
			}
			a.mu.Unlock()
			a.log.Info("registered", "cpu", req.Capacity.CPU, "memoryMiB", req.Capacity.MemoryMiB,
				"address", req.Address, "attempts", attempt)
			return resp, nil
		}
		if errors.Is(err, wire.ErrUnauthorized) {
			return resp, fmt.Errorf("agent: node %s: registering: %w (check the join token given to orchlet)", a.node, err)
		}
		if errors.Is(err, wire.ErrNodeNameTaken) {
			// Another host holds the name: running its tasks here too
			// is what must not happen, and retrying cannot help.
			return resp, fmt.Errorf("agent: registering: %w", err)
		}
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		d := b.next()
		if attempt == 1 || attempt%10 == 0 {
			a.log.Warn("cannot register with the control plane; retrying", "err", err, "attempt", attempt, "retryIn", d.Round(time.Millisecond))
		}
		if !sleepCtx(ctx, d) {
			return resp, ctx.Err()
		}
	}
}

func (a *Agent) heartbeat(ctx context.Context, interval time.Duration, relost func(), healed chan<- struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := a.cp.Heartbeat(ctx, a.node)
		switch {
		case err == nil:
			if failures > 0 {
				a.log.Info("heartbeats delivered again", "afterFailures", failures)
				select {
				case healed <- struct{}{}:
				default:
				}
			}
			failures = 0
		case ctx.Err() != nil:
			return
		case errors.Is(err, wire.ErrUnknownNode), errors.Is(err, wire.ErrUnauthorized):
			relost()
			return
		default:
			failures++
			if failures == 1 || failures%10 == 0 {
				a.log.Warn("heartbeat failed; containers keep running", "err", err, "failures", failures)
			}
		}
	}
}

// heartbeatWhileDraining keeps the node alive after Run's ctx ended
// (orchlet got SIGTERM) for as long as function invocations drain
// (runFunctions: up to StopTimeout+FlushTimeout, 40 s by default, far
// longer than the node TTL). The node is still up then, finishing
// invocations and posting their results; without heartbeats the control
// plane would declare it lost half-way and replace its tasks while the
// agent still runs. Like a Nomad client that stays up while its
// allocations stop, it heartbeats until the drain ends, then stops, and
// the node is lost one TTL later (a killed agent's at once: nothing
// heartbeats for it). It takes no new assignments meanwhile, and no new
// invocations: the first one routed to it is refused, and the server
// routes no more to it (wire.InvokeErrStopping).
func (a *Agent) heartbeatWhileDraining() {
	select {
	case <-a.fnDrained:
		return
	default:
	}
	interval := time.Duration(a.hbInterval.Load())
	if interval <= 0 {
		return // never registered: no node to keep alive
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-a.fnDrained
		cancel()
	}()
	a.log.Info("heartbeating while function invocations drain; the node stays alive until they end")
	// At once: the session's last heartbeat may be most of an interval old.
	if err := a.cp.Heartbeat(ctx, a.node); err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat failed while draining", "err", err)
	}
	// An unknown node (the control plane already forgot it) is not
	// registered again: the agent is on its way out.
	a.heartbeat(ctx, interval, cancel, nil)
	a.log.Info("function invocations drained; heartbeats stop")
}

// errStreamEnded is used when the assignment stream closes without saying why.
var errStreamEnded = errors.New("assignment stream ended")

// followAssignments consumes the assignment stream, reconnecting with
// backoff when it breaks.
func (a *Agent) followAssignments(ctx context.Context, relost func(), healed <-chan struct{}) {
	b := newBackoff(a.minBackoff, a.maxBackoff)
	failures := 0
	for {
		err := a.consumeAssignments(ctx, func() { b.reset(); failures = 0 })
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, wire.ErrUnknownNode) || errors.Is(err, wire.ErrUnauthorized) {
			relost()
			return
		}
		failures++
		d := b.next()
		if failures == 1 || failures%10 == 0 {
			a.log.Warn("assignment stream broke; reconnecting (containers keep running)", "err", err, "failures", failures, "retryIn", d.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		case <-healed:
			b.reset()
		}
	}
}

func (a *Agent) consumeAssignments(ctx context.Context, onSnapshot func()) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errs := a.cp.Assignments(sctx, a.node)
	for evs != nil || errs != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			switch ev.Type {
			case wire.EventSnapshot:
				a.applySnapshot(ctx, ev.Assignments)
				onSnapshot()
			case wire.EventPut:
				for _, as := range ev.Assignments {
					a.applyAssignment(ctx, as)
				}
			case wire.EventDelete:
				a.deleteTask(ctx, ev.TaskID)
			case wire.EventPing:
			default:
				a.log.Debug("ignoring unknown assignment event", "type", ev.Type)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	return errStreamEnded
}
