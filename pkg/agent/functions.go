package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/api/wire"
)

// FunctionControlPlane is the part of the control plane that sends
// function invocations: a stream the agent opens (so agents need no
// inbound port for it) and a call per result. pkg/api/client implements it.
type FunctionControlPlane interface {
	Invocations(ctx context.Context, node string) (<-chan wire.InvocationEvent, <-chan error)
	InvocationResult(ctx context.Context, node, id string, res wire.InvocationResult) error
}

// InvocationFollower is a FunctionControlPlane that calls handle with each
// invocation in the goroutine reading its stream (pkg/api/client does),
// sparing a goroutine hand-off per invocation; it returns why the stream
// ended (or handle's error). The agent prefers it to Invocations: a
// wrapper that embeds a *client.Client and overrides Invocations must
// override FollowInvocations too, or the embedded one bypasses it.
type InvocationFollower interface {
	FollowInvocations(ctx context.Context, node string, handle func(wire.InvocationEvent) error) error
}

// ResultBatcher is a FunctionControlPlane that takes results in batches
// (pkg/api/client does); an error wrapping client.ErrNoResultBatches
// means the server does not, and results go one by one.
type ResultBatcher interface {
	InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error
}

// FunctionsConfig turns on function environments on this node.
type FunctionsConfig struct {
	// ListenAddr is where environments' Runtime API endpoints listen
	// (default: docker0's address, else 0.0.0.0, on a free port each).
	ListenAddr string
	// RuntimeHost is the host environments reach those endpoints by
	// (default host.docker.internal).
	RuntimeHost string
	// PerEnvironment is AWS_LAMBDA_MAX_CONCURRENCY (default 4).
	PerEnvironment int
	// MaxEnvironments caps one function's environments here (default 32).
	MaxEnvironments int
	// IdleTimeout stops an unused environment (default 5 minutes).
	IdleTimeout time.Duration
	// Launcher starts environments (default: containers on the agent's
	// runtime).
	Launcher lambdart.Launcher
	// StopTimeout bounds how long a stopping agent waits for the
	// invocations it is running (default 30 s): each ends at the shorter
	// of its own timeout and this; one still running then is answered
	// with an error saying the agent stopped.
	StopTimeout time.Duration
	// FlushTimeout bounds how long a stopping agent then keeps retrying
	// to post the results it holds to a server that does not take them
	// (default 10 s). A stop takes at most StopTimeout+FlushTimeout
	// before the environments are stopped.
	FlushTimeout time.Duration
	// Planes, when set, returns one control plane per server replica: the
	// agent attaches its invocation stream to each (a replica routes
	// invocations only to the agents attached to it) and answers each
	// invocation on the replica that sent it. Default: the agent's
	// control plane alone.
	Planes func() []FunctionControlPlane
}

// labelFunctionNode marks function containers with their node (not
// LabelNode: the task sweep must not take them for stray task containers).
const labelFunctionNode = "orch.function-node"

// DockerBridgeAddr is docker0's IPv4 address with port 0, or 0.0.0.0:0.
func DockerBridgeAddr() string {
	if ifc, err := net.InterfaceByName("docker0"); err == nil {
		if addrs, err := ifc.Addrs(); err == nil {
			for _, a := range addrs {
				if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil {
					return ip.IP.String() + ":0"
				}
			}
		}
	}
	return "0.0.0.0:0"
}

// Stop defaults (FunctionsConfig.StopTimeout, FlushTimeout).
const (
	DefaultFunctionStopTimeout  = 30 * time.Second
	DefaultFunctionFlushTimeout = 10 * time.Second
)

// runFunctions runs invocations the control plane streams until ctx ends
// or StopAll begins, then drains: it takes no new invocations (those the
// streams still bring are refused at once, and the server places them
// elsewhere), lets those running end (bounded by StopTimeout), posts every
// result it holds (retrying until FlushTimeout), and only then closes the
// streams and stops every environment. The streams stay open during the
// drain because the server fails the invocations of an agent whose
// stream ended.
func (a *Agent) runFunctions(ctx context.Context) {
	defer close(a.fnDrained)
	fc := a.cfg.Functions
	cp, ok := a.cp.(FunctionControlPlane)
	if fc == nil || !ok {
		return
	}
	sel := map[string]string{labelFunctionNode: a.node}
	if fc.Launcher == nil {
		fc.Launcher = lambdart.RuntimeLauncher{Runtime: a.rt, Labels: sel}
		a.removeFunctionContainers(ctx, sel)
	}
	if fc.ListenAddr == "" {
		fc.ListenAddr = DockerBridgeAddr()
	}
	if fc.RuntimeHost == "" {
		fc.RuntimeHost = "host.docker.internal"
	}
	if fc.PerEnvironment <= 0 {
		fc.PerEnvironment = 4
	}
	if fc.MaxEnvironments <= 0 {
		fc.MaxEnvironments = 32
	}
	if fc.StopTimeout <= 0 {
		fc.StopTimeout = DefaultFunctionStopTimeout
	}
	if fc.FlushTimeout <= 0 {
		fc.FlushTimeout = DefaultFunctionFlushTimeout
	}
	// stop: take no new invocations. life: the streams and result posts,
	// which outlive stop by the drain. work: the invocations, cut off
	// when StopTimeout has passed since stop.
	stop, endStop := context.WithCancel(ctx)
	defer endStop()
	go func() {
		select {
		case <-a.fnStopping:
			endStop()
		case <-stop.Done():
		}
	}()
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	work, endWork := context.WithCancel(life)
	defer endWork()
	var reports sync.Map // request id -> lambdart.Report
	pool := lambdart.NewPool(lambdart.PoolConfig{
		Launcher: fc.Launcher, ListenAddr: fc.ListenAddr, RuntimeHost: fc.RuntimeHost,
		PerEnvironment: fc.PerEnvironment, MaxEnvironments: fc.MaxEnvironments, IdleTimeout: fc.IdleTimeout,
		Report: func(r lambdart.Report) {
			reports.Store(r.RequestID, r)
			if a.log.Enabled(ctx, slog.LevelDebug) { // String is not free: not for every invocation unless asked
				a.log.Debug(r.String(), "function", r.Function)
			}
		},
	})
	closePool := sync.OnceFunc(pool.Close)
	defer closePool()
	f := &functionRunner{a: a, pool: pool, reports: &reports, revisions: map[string]string{}, work: make(chan func()),
		stop: stop, life: life, stopTimeout: fc.StopTimeout}
	planes := []FunctionControlPlane{cp}
	if fc.Planes != nil {
		if ps := fc.Planes(); len(ps) > 0 {
			planes = ps
		}
	}
	var workers, inflight, streams, senders sync.WaitGroup
	defer workers.Wait()
	flushed := make(chan struct{}) // closed once every invocation ended: senders say when their queues are empty
	var drained sync.WaitGroup     // each plane's senders: all posted since flushed
	drained.Add(len(planes))
	var rss []*resultSender
	for _, cp := range planes {
		rs := newResultSender(a, cp)
		rss = append(rss, rs)
		senders.Go(func() { rs.run(life, flushed, drained.Done) })
		streams.Go(func() {
			b := newBackoff(a.minBackoff, a.maxBackoff)
			for stop.Err() == nil {
				err := f.follow(life, work, cp, rs, &workers, &inflight, b.reset)
				if stop.Err() != nil || life.Err() != nil {
					// Stopping: a broken stream is not reopened (the
					// server failed its invocations when it ended).
					return
				}
				d := b.next()
				a.log.Debug("invocation stream broke; reconnecting", "err", err, "retryIn", d.Round(time.Millisecond))
				if !sleepCtx(stop, d) {
					return
				}
			}
		})
	}
	<-stop.Done()
	began := time.Now()
	f.admitMu.Lock()
	f.closed = true // from here inflight only goes down: Wait is safe
	f.admitMu.Unlock()
	for _, rs := range rss {
		rs.draining.Store(true)
	}
	a.log.Info("stopping functions: taking no new invocations; waiting for those running", "stopTimeout", fc.StopTimeout)
	ended := make(chan struct{})
	go func() { inflight.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(fc.StopTimeout):
		a.log.Warn("invocations still running at the function stop timeout: ending them with an error", "stopTimeout", fc.StopTimeout)
		// A handler once handed its invocation ends only at its
		// deadline or with its environment: stop the environments.
		f.cutOff.Store(true)
		endWork()
		closePool()
		select {
		case <-ended:
		case <-time.After(fc.FlushTimeout):
			a.log.Error("invocations did not end after they were cut off; stopping without their results")
		}
	}
	close(flushed)
	sent := make(chan struct{})
	go func() { drained.Wait(); close(sent) }()
	select {
	case <-sent:
	case <-time.After(fc.FlushTimeout):
		held := 0
		for _, rs := range rss {
			held += rs.held()
		}
		a.log.Error("could not post every invocation result before the function flush timeout: those callers get an error", "flushTimeout", fc.FlushTimeout, "queued", held)
	}
	endLife() // closes the streams, ends the senders and the workers
	endWork()
	streams.Wait()
	senders.Wait()
	a.log.Info("functions stopped", "drain", time.Since(began).Round(time.Millisecond))
}

// removeFunctionContainers removes environments a previous run left (their
// endpoints died with it).
func (a *Agent) removeFunctionContainers(ctx context.Context, sel map[string]string) {
	states, err := a.rt.List(ctx, sel)
	if err != nil {
		return
	}
	for _, st := range states {
		_ = a.rt.Stop(ctx, st.ID, time.Second)
		if err := a.rt.Remove(ctx, st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			a.log.Warn("cannot remove a function environment left by a previous run", "container", shortID(st.ID), "err", err)
		}
	}
}

type functionRunner struct {
	a       *Agent
	pool    *lambdart.Pool
	reports *sync.Map

	mu        sync.Mutex
	revisions map[string]string // function -> revision the pool runs

	// work hands an invocation to an idle worker (unbuffered: only a
	// worker waiting for one takes it, none queues behind a busy one).
	work chan func()

	stop        context.Context // ends when the agent stops taking invocations
	life        context.Context // ends when the drain is over (result posts use it)
	stopTimeout time.Duration
	cutOff      atomic.Bool // the stop timeout passed: what still runs is ended

	admitMu sync.Mutex
	closed  bool // the drain began: no invocation is admitted
}

// admit counts an invocation in inflight unless the drain began.
func (f *functionRunner) admit(inflight *sync.WaitGroup) bool {
	f.admitMu.Lock()
	defer f.admitMu.Unlock()
	if f.closed || f.stop.Err() != nil {
		return false
	}
	inflight.Add(1)
	return true
}

// workerIdle is how long a worker waits for another invocation before it
// exits (a burst's workers stay for the next burst).
const workerIdle = 10 * time.Second

// goRun runs job on an idle worker goroutine, or on a new one that then
// stays for later invocations until workerIdle passes without one. A
// goroutine per invocation grew a fresh stack for every one (the runtime
// copying it as the invocation path deepened), measurable on the warm path.
func (f *functionRunner) goRun(ctx context.Context, wg *sync.WaitGroup, job func()) {
	select {
	case f.work <- job:
		return
	default:
	}
	wg.Go(func() {
		job()
		idle := time.NewTimer(workerIdle)
		defer idle.Stop()
		for {
			select {
			case job := <-f.work:
				job()
				idle.Reset(workerIdle)
			case <-idle.C:
				return
			case <-ctx.Done():
				return
			}
		}
	})
}

// follow runs the invocations one stream brings, on work, until the
// stream or ctx (the agent's drain) ends. Invocations arriving once the
// agent is stopping are refused at once (wire.InvokeErrStopping): they did
// not run, and the server places them on another agent and sends this one
// no more. A control plane that is an InvocationFollower hands each
// invocation to a worker from the goroutine reading the stream; others
// through their channel.
func (f *functionRunner) follow(ctx, work context.Context, cp FunctionControlPlane, rs *resultSender, workers, inflight *sync.WaitGroup, connected func()) error {
	dispatch := func(ev wire.InvocationEvent) error {
		connected()
		if ev.Unreadable != "" {
			f.unreadable(rs, ev)
			return nil
		}
		if ev.Type == wire.InvocationDelete {
			f.forget(ev.FunctionName)
			return nil
		}
		if ev.Type != wire.InvocationInvoke {
			return nil // a ping, or a type this agent does not know
		}
		if ev.Function == nil {
			ev.Unreadable = "an invoke line without its function's spec"
			f.unreadable(rs, ev)
			return nil
		}
		if !f.admit(inflight) {
			rs.send(f.life, ev.Function.Name, wire.InvocationResult{RequestID: ev.RequestID, ErrorKind: wire.InvokeErrStopping,
				Error: "node " + f.a.node + " is stopping and takes no new invocations"})
			return nil
		}
		f.ensure(ev.Function)
		f.goRun(work, workers, func() { defer inflight.Done(); f.run(work, rs, ev) })
		return nil
	}
	if fl, ok := cp.(InvocationFollower); ok {
		err := fl.FollowInvocations(ctx, f.a.node, dispatch)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errs := cp.Invocations(sctx, f.a.node)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-evs:
			if !ok {
				select {
				case err := <-errs:
					return err
				default:
					return errStreamEnded
				}
			}
			_ = dispatch(ev)
		}
	}
}

// unreadable answers an invocation whose line on the stream could not be
// read: only that invocation fails (the handler did not run), and the
// stream goes on. One whose id could not be read either is only logged:
// its caller gets an error at its timeout. The log says why, never the
// line (it holds the payload).
func (f *functionRunner) unreadable(rs *resultSender, ev wire.InvocationEvent) {
	if ev.RequestID == "" {
		f.a.log.Error("could not read a line of the invocation stream, nor the invocation it is for; its caller gets an error at its timeout", "why", ev.Unreadable)
		return
	}
	f.a.log.Warn("could not read an invocation from the stream; answering it with an error", "requestId", ev.RequestID, "why", ev.Unreadable)
	kind := wire.InvokeErrBadFrame
	if ev.TooLarge {
		kind = wire.InvokeErrTooLarge
	}
	rs.send(f.life, "", wire.InvocationResult{RequestID: ev.RequestID, ErrorKind: kind,
		Error: "node " + f.a.node + " could not read the invocation: " + ev.Unreadable})
}

// ensure gives the pool the function's current configuration.
func (f *functionRunner) ensure(spec *wire.FunctionSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revisions[spec.Name] == spec.Revision {
		return
	}
	f.revisions[spec.Name] = spec.Revision
	f.pool.Put(lambdart.Function{
		Name: spec.Name, ARN: spec.ARN, Image: spec.Image, MemoryMiB: spec.MemoryMiB,
		Timeout: time.Duration(spec.TimeoutSec) * time.Second, Env: spec.Env, ReservedConcurrency: spec.ReservedConcurrency,
	})
}

// forget stops a deleted function's environments.
func (f *functionRunner) forget(name string) {
	f.mu.Lock()
	_, known := f.revisions[name]
	delete(f.revisions, name)
	f.mu.Unlock()
	if known {
		f.a.log.Info("function deleted: stopping its environments", "function", name)
		f.pool.Delete(name)
	}
}

func (f *functionRunner) run(ctx context.Context, rs *resultSender, ev wire.InvocationEvent) {
	var (
		r    lambdart.Result
		logs []byte
		err  error
	)
	if ev.Tail {
		r, logs, err = f.pool.InvokeTail(ctx, ev.Function.Name, ev.RequestID, ev.Payload)
	} else {
		r, err = f.pool.Invoke(ctx, ev.Function.Name, ev.RequestID, ev.Payload)
	}
	res := wire.InvocationResult{Payload: r.Payload, FunctionError: r.FunctionError, ErrorType: r.ErrorType,
		DurationMs: float64(r.Duration.Microseconds()) / 1000, Logs: logs, Environments: f.pool.Environments(ev.Function.Name)}
	if v, ok := f.reports.LoadAndDelete(ev.RequestID); ok {
		rep := v.(lambdart.Report)
		res.Report = rep.String()
		res.InitDurationMs = float64(rep.InitDuration.Microseconds()) / 1000
		res.MaxMemoryMB = rep.MaxMemoryMiB
	}
	switch {
	case f.cutOff.Load() && (err != nil || r.ErrorType == "Runtime.ExitError"):
		// The agent's stop timeout cut the invocation off (its
		// environment stopped, or it never reached one).
		why := r.ErrorType
		if err != nil {
			why = err.Error()
		}
		res = wire.InvocationResult{ErrorKind: wire.InvokeErrAgent,
			Error: "node " + f.a.node + " stopped before the invocation finished (its function stop timeout, " + f.stopTimeout.String() + ", passed; " + why + ")"}
	case err == nil:
	case errors.Is(err, lambdart.ErrThrottled):
		res.ErrorKind, res.Error = wire.InvokeErrThrottled, err.Error()
	case errors.Is(err, lambdart.ErrInit):
		res.ErrorKind, res.Error = wire.InvokeErrInit, err.Error()
	default:
		res.ErrorKind, res.Error = wire.InvokeErrAgent, err.Error()
	}
	res.RequestID = ev.RequestID
	rs.send(f.life, ev.Function.Name, res)
}
