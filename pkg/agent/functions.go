package agent

import (
	"context"
	"errors"
	"net"
	"sync"
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

// runFunctions runs invocations the control plane streams until ctx ends,
// then stops every environment.
func (a *Agent) runFunctions(ctx context.Context) {
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
	var reports sync.Map // request id -> lambdart.Report
	pool := lambdart.NewPool(lambdart.PoolConfig{
		Launcher: fc.Launcher, ListenAddr: fc.ListenAddr, RuntimeHost: fc.RuntimeHost,
		PerEnvironment: fc.PerEnvironment, MaxEnvironments: fc.MaxEnvironments, IdleTimeout: fc.IdleTimeout,
		Report: func(r lambdart.Report) {
			reports.Store(r.RequestID, r)
			a.log.Debug(r.String(), "function", r.Function)
		},
	})
	defer pool.Close()
	f := &functionRunner{a: a, pool: pool, reports: &reports, revisions: map[string]string{}}
	planes := []FunctionControlPlane{cp}
	if fc.Planes != nil {
		if ps := fc.Planes(); len(ps) > 0 {
			planes = ps
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var streams sync.WaitGroup
	for _, cp := range planes {
		streams.Go(func() {
			b := newBackoff(a.minBackoff, a.maxBackoff)
			for ctx.Err() == nil {
				err := f.follow(ctx, cp, &wg, b.reset)
				if ctx.Err() != nil {
					return
				}
				d := b.next()
				a.log.Debug("invocation stream broke; reconnecting", "err", err, "retryIn", d.Round(time.Millisecond))
				if !sleepCtx(ctx, d) {
					return
				}
			}
		})
	}
	streams.Wait()
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
}

func (f *functionRunner) follow(ctx context.Context, cp FunctionControlPlane, wg *sync.WaitGroup, connected func()) error {
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
			connected()
			if ev.Type == wire.InvocationDelete {
				f.forget(ev.FunctionName)
				continue
			}
			if ev.Type != wire.InvocationInvoke || ev.Function == nil {
				continue
			}
			f.ensure(ev.Function)
			wg.Go(func() { f.run(ctx, cp, ev) })
		}
	}
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

func (f *functionRunner) run(ctx context.Context, cp FunctionControlPlane, ev wire.InvocationEvent) {
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
		DurationMs: float64(r.Duration.Microseconds()) / 1000, Logs: logs}
	if v, ok := f.reports.LoadAndDelete(ev.RequestID); ok {
		rep := v.(lambdart.Report)
		res.Report = rep.String()
		res.InitDurationMs = float64(rep.InitDuration.Microseconds()) / 1000
	}
	switch {
	case err == nil:
	case errors.Is(err, lambdart.ErrThrottled):
		res.ErrorKind, res.Error = wire.InvokeErrThrottled, err.Error()
	case errors.Is(err, lambdart.ErrInit):
		res.ErrorKind, res.Error = wire.InvokeErrInit, err.Error()
	default:
		res.ErrorKind, res.Error = wire.InvokeErrAgent, err.Error()
	}
	if ctx.Err() != nil {
		return // the agent is stopping: the server sees the stream end
	}
	for attempt := 1; ; attempt++ {
		err := cp.InvocationResult(ctx, f.a.node, ev.RequestID, res)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			if err != nil && ctx.Err() == nil {
				f.a.log.Warn("cannot deliver an invocation's result", "function", ev.Function.Name, "requestId", ev.RequestID, "err", err)
			}
			return
		}
		sleepCtx(ctx, time.Duration(attempt)*50*time.Millisecond)
	}
}
