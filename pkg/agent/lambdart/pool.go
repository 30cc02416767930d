package lambdart

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Pool errors.
var (
	// ErrThrottled: the function already runs as many invocations as its
	// reserved concurrency allows (Lambda's TooManyRequestsException).
	ErrThrottled = errors.New("lambdart: rate exceeded: the function's concurrency limit is reached")
	// ErrInit: a new environment failed to start or to initialise.
	ErrInit = errors.New("lambdart: the function's environment failed to initialise")
)

// Function is what the pool needs to run one function's environments.
type Function struct {
	Name      string
	ARN       string
	Image     string
	MemoryMiB int           // AWS_LAMBDA_FUNCTION_MEMORY_SIZE and the container's limit
	Timeout   time.Duration // per invocation
	Env       map[string]string
	// ReservedConcurrency caps the invocations in flight at once (0: the
	// pool's MaxEnvironments times PerEnvironment).
	ReservedConcurrency int
}

// Instance is one running environment process or container.
type Instance interface {
	// Exited is closed when the process or container has exited on
	// its own; after Stop it may stay open (a container's does).
	Exited() <-chan struct{}
	// Stop stops it (and waits until it has exited or a grace passed).
	Stop()
}

// LaunchSpec is what a Launcher starts: Image with Env (which carries
// AWS_LAMBDA_RUNTIME_API and the AWS_LAMBDA_FUNCTION_* variables).
type LaunchSpec struct {
	Name      string // unique per environment
	Function  string
	Image     string
	MemoryMiB int
	Env       []string // KEY=VALUE
}

// Launcher starts environments: containers on the agent's runtime, or
// local processes in tests and benchmarks.
type Launcher interface {
	Launch(ctx context.Context, spec LaunchSpec) (Instance, error)
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	Launcher Launcher
	// ListenAddr is where environment endpoints listen ("127.0.0.1:0" for
	// processes; the Docker bridge gateway, or 0.0.0.0, for containers).
	ListenAddr string
	// RuntimeHost is the host name environments reach the endpoint by
	// ("" = ListenAddr's address; "host.docker.internal" for containers).
	RuntimeHost string
	// PerEnvironment is AWS_LAMBDA_MAX_CONCURRENCY: invocations one
	// environment runs at once (default 1).
	PerEnvironment int
	// MaxEnvironments caps environments per function (default 64).
	MaxEnvironments int
	// IdleTimeout stops an environment that ran nothing this long (scale
	// to zero; default 5 minutes).
	IdleTimeout time.Duration
	// InitTimeout bounds a cold start (default 10 s, Lambda's init limit).
	InitTimeout time.Duration
	// Report receives one Report per invocation (the REPORT line).
	Report func(Report)
}

// Report is what Lambda's REPORT line says about one invocation.
type Report struct {
	Function     string
	RequestID    string
	Duration     time.Duration
	MemoryMiB    int
	InitDuration time.Duration // non-zero on a cold start
	Error        string        // FunctionError type, "" on success
	// MaxMemoryMiB is the environment's peak memory use so far (Lambda's
	// "Max Memory Used"), rounded up; 0 when the launcher cannot tell.
	MaxMemoryMiB int
}

// BilledMs is the billed duration: Duration rounded up to 1 ms (at least 1).
func (r Report) BilledMs() int64 {
	ms := int64(math.Ceil(float64(r.Duration) / float64(time.Millisecond)))
	if ms < 1 {
		ms = 1
	}
	return ms
}

// String formats the report as Lambda's REPORT line.
func (r Report) String() string {
	// Appended by hand: it is built for every invocation.
	b := make([]byte, 0, 160)
	b = append(b, "REPORT RequestId: "...)
	b = append(b, r.RequestID...)
	b = append(b, "\tDuration: "...)
	b = strconv.AppendFloat(b, float64(r.Duration)/float64(time.Millisecond), 'f', 2, 64)
	b = append(b, " ms\tBilled Duration: "...)
	b = strconv.AppendInt(b, r.BilledMs(), 10)
	b = append(b, " ms\tMemory Size: "...)
	b = strconv.AppendInt(b, int64(r.MemoryMiB), 10)
	b = append(b, " MB"...)
	if r.MaxMemoryMiB > 0 {
		b = append(b, "\tMax Memory Used: "...)
		b = strconv.AppendInt(b, int64(r.MaxMemoryMiB), 10)
		b = append(b, " MB"...)
	}
	if r.InitDuration > 0 {
		b = append(b, "\tInit Duration: "...)
		b = strconv.AppendFloat(b, float64(r.InitDuration)/float64(time.Millisecond), 'f', 2, 64)
		b = append(b, " ms"...)
	}
	return string(b)
}

// Stats are one function's counters since the pool started.
type Stats struct {
	Invocations, Errors, Throttles, ColdStarts int64
	Environments                               int // running now
	MaxMemoryMiB                               int // the highest Max Memory Used reported
	BilledMs                                   int64
	GBSeconds                                  float64
	P50, P99                                   time.Duration // of the last 1,024 durations
}

// Pool runs invocations in warm environments, starting them on demand up
// to the function's concurrency and stopping idle ones.
type Pool struct {
	cfg PoolConfig

	mu    sync.Mutex
	funcs map[string]*fnState
	seq   int
	done  chan struct{}
	wg    sync.WaitGroup
}

type fnState struct {
	fn       Function
	envs     []*envState
	inflight int
	stats    Stats
	recent   []time.Duration // ring of the last 1,024 durations
	next     int
	// replaced, when set, is closed once the next new environment has
	// answered its first invocation (or failed to start): the environments
	// a configuration change retired stop then.
	replaced chan struct{}
}

type envState struct {
	started  chan struct{} // closed when the cold start ended (see startErr)
	startErr error
	env      *Env
	inst     Instance
	inflight int
	lastUsed time.Time
	initDur  time.Duration
	cold     bool  // the next invocation is the first (reports Init Duration)
	peak     int64 // the most memory seen in use, bytes (MemoryPeaker)
	gone     bool  // out of st.envs: takes no new invocations
	stopped  bool  // env closed and instance stopped
	// retired is closed when stopped is set: the wait for the
	// instance's exit ends then (a container's Exited is not closed by
	// its Stop, and the wait would last until the pool closes).
	retired chan struct{}
}

// NewPool returns a pool; Close stops its environments.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.PerEnvironment < 1 {
		cfg.PerEnvironment = 1
	}
	if cfg.MaxEnvironments < 1 {
		cfg.MaxEnvironments = 64
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	p := &Pool{cfg: cfg, funcs: make(map[string]*fnState), done: make(chan struct{})}
	p.wg.Add(1)
	go p.reap()
	return p
}

// Put adds or replaces a function's configuration. Environments started
// with an older configuration are stopped (as UpdateFunctionCode does).
func (p *Pool) Put(fn Function) {
	p.mu.Lock()
	st, ok := p.funcs[fn.Name]
	if !ok {
		p.funcs[fn.Name] = &fnState{fn: fn}
		p.mu.Unlock()
		return
	}
	old := st.envs
	st.envs = nil
	st.fn = fn
	if len(old) > 0 && st.replaced == nil {
		st.replaced = make(chan struct{})
	}
	after := st.replaced
	p.mu.Unlock()
	for _, e := range old {
		p.retireAfter(e, "the function's configuration changed", after)
	}
}

// Delete removes a function and stops its environments.
func (p *Pool) Delete(name string) {
	p.mu.Lock()
	st := p.funcs[name]
	delete(p.funcs, name)
	p.mu.Unlock()
	if st != nil {
		for _, e := range st.envs {
			p.retire(e, "the function was deleted")
		}
	}
}

// Stats returns a function's counters.
func (p *Pool) Stats(name string) (Stats, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.funcs[name]
	if !ok {
		return Stats{}, false
	}
	s := st.stats
	s.Environments = len(st.envs)
	d := append([]time.Duration(nil), st.recent...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d) > 0 {
		s.P50 = d[len(d)/2]
		s.P99 = d[(len(d)*99)/100]
	}
	return s, true
}

// Environments is how many environments the function has here now
// (starting or warm); cheap enough to ask after every invocation.
func (p *Pool) Environments(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.funcs[name]; ok {
		return len(st.envs)
	}
	return 0
}

// Invoke runs one invocation of the named function. requestID may be empty.
// An invocation whose environment died before the runtime took it (the
// handler never ran) is tried again in another environment, up to 3 times.
func (p *Pool) Invoke(ctx context.Context, name, requestID string, payload []byte) (Result, error) {
	r, _, err := p.invoke(ctx, name, requestID, payload, false)
	return r, err
}

// InvokeTail is Invoke that also returns the environment's output written
// while the invocation ran (what Lambda's LogType Tail returns), when its
// launcher keeps logs (see LogReader).
func (p *Pool) InvokeTail(ctx context.Context, name, requestID string, payload []byte) (Result, []byte, error) {
	return p.invoke(ctx, name, requestID, payload, true)
}

// MemoryPeaker is an Instance that can tell the most memory its process
// or container has used since it started (bytes; 0 when unknown).
type MemoryPeaker interface {
	MemoryPeak(ctx context.Context) int64
}

// LogReader is an Instance that can return its output since a time.
type LogReader interface {
	LogsSince(ctx context.Context, since time.Time) []byte
}

func (p *Pool) invoke(ctx context.Context, name, requestID string, payload []byte, tail bool) (Result, []byte, error) {
	if requestID == "" {
		requestID = NewRequestID()
	}
	for attempt := 1; ; attempt++ {
		r, logs, err := p.invokeOnce(ctx, name, requestID, payload, tail)
		if !errors.Is(err, ErrClosed) || attempt == 3 {
			return r, logs, err
		}
	}
}

func (p *Pool) invokeOnce(ctx context.Context, name, requestID string, payload []byte, tail bool) (Result, []byte, error) {
	p.mu.Lock()
	st, ok := p.funcs[name]
	if !ok {
		p.mu.Unlock()
		return Result{}, nil, fmt.Errorf("lambdart: function %q is not on this agent", name)
	}
	limit := st.fn.ReservedConcurrency
	if limit <= 0 {
		limit = p.cfg.MaxEnvironments * p.cfg.PerEnvironment
	}
	if st.inflight >= limit {
		st.stats.Throttles++
		p.mu.Unlock()
		return Result{}, nil, ErrThrottled
	}
	st.inflight++
	fn := st.fn
	var es *envState
	for _, e := range st.envs {
		if !e.gone && e.inflight < p.cfg.PerEnvironment {
			es = e
			break
		}
	}
	launch := es == nil
	if launch {
		// A starting environment takes invocations too: the next ones
		// wait for its init instead of each starting their own.
		es = &envState{started: make(chan struct{}), cold: true, lastUsed: time.Now(), retired: make(chan struct{})}
		st.envs = append(st.envs, es)
	}
	es.inflight++
	p.mu.Unlock()

	defer func() {
		p.mu.Lock()
		st.inflight--
		p.mu.Unlock()
	}()
	if launch {
		defer p.replacedDone(st)
		es.startErr = p.coldStart(ctx, st, fn, es)
		close(es.started)
	}
	select {
	case <-es.started:
	case <-ctx.Done():
		p.mu.Lock()
		es.inflight--
		p.mu.Unlock()
		return Result{}, nil, ctx.Err()
	}
	if es.startErr != nil {
		p.mu.Lock()
		es.inflight--
		st.stats.Invocations++
		st.stats.Errors++
		p.mu.Unlock()
		return Result{}, nil, es.startErr
	}
	timeout := fn.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	began := time.Now()
	r, err := es.env.Invoke(ctx, Invocation{ID: requestID, Payload: payload, Deadline: began.Add(timeout), Timeout: timeout, FunctionARN: fn.ARN})
	var logs []byte
	if lr, ok := es.inst.(LogReader); ok && tail {
		// Before a broken environment is retired (its container removed).
		logs = lr.LogsSince(ctx, began)
	}
	var peak int64
	if mp, ok := es.inst.(MemoryPeaker); ok && err == nil {
		peak = mp.MemoryPeak(ctx)
	}

	p.mu.Lock()
	es.inflight--
	es.lastUsed = time.Now()
	var initDur time.Duration
	if es.cold {
		es.cold = false
		initDur = es.initDur
	}
	// The environment's peak so far, as Lambda reports it (a runtime that
	// could not be read this time keeps the last figure).
	es.peak = max(es.peak, peak)
	maxMiB := int((es.peak + 1<<20 - 1) >> 20)
	broken := false
	select {
	case <-es.env.Broken():
		broken = true
	default:
	}
	if err == nil {
		st.stats.Invocations++
		if r.FunctionError != "" {
			st.stats.Errors++
		}
		rep := Report{Function: fn.Name, RequestID: requestID, Duration: r.Duration, MemoryMiB: fn.MemoryMiB, InitDuration: initDur, Error: r.ErrorType, MaxMemoryMiB: maxMiB}
		st.stats.MaxMemoryMiB = max(st.stats.MaxMemoryMiB, maxMiB)
		st.stats.BilledMs += rep.BilledMs()
		st.stats.GBSeconds += float64(rep.BilledMs()) / 1000 * float64(fn.MemoryMiB) / 1024
		if len(st.recent) < 1024 {
			st.recent = append(st.recent, r.Duration)
		} else {
			st.recent[st.next] = r.Duration
			st.next = (st.next + 1) % len(st.recent)
		}
		if p.cfg.Report != nil {
			defer p.cfg.Report(rep)
		}
	}
	p.mu.Unlock()
	if broken {
		p.retire(es, es.env.Reason())
	}
	return r, logs, err
}

// coldStart launches es (already listed in st.envs, so concurrent
// invocations join it) and waits until its runtime polls for work.
func (p *Pool) coldStart(ctx context.Context, st *fnState, fn Function, es *envState) error {
	start := time.Now()
	env, err := Listen(p.cfg.ListenAddr)
	if err != nil {
		p.retire(es, "listen failed")
		return err
	}
	p.mu.Lock()
	es.env = env
	p.seq++
	name := fn.Name + "-" + strconv.Itoa(p.seq) + "-" + NewRequestID()[:8]
	p.mu.Unlock()
	spec := LaunchSpec{Name: name, Function: fn.Name, Image: fn.Image, MemoryMiB: fn.MemoryMiB, Env: environment(fn, env.Address(p.cfg.RuntimeHost), p.cfg.PerEnvironment)}
	inst, err := p.cfg.Launcher.Launch(ctx, spec)
	if err != nil {
		p.retire(es, "launch failed")
		return fmt.Errorf("%w: %s: starting %s: %v", ErrInit, fn.Name, fn.Image, err)
	}
	p.mu.Lock()
	es.inst = inst
	stopped := es.stopped
	p.mu.Unlock()
	if stopped { // retired while launching: retire did not see inst
		inst.Stop()
		return fmt.Errorf("%w: %s: the function was deleted or updated during init", ErrClosed, fn.Name)
	}
	timer := time.NewTimer(p.cfg.InitTimeout)
	defer timer.Stop()
	select {
	case <-env.Ready():
	case <-env.Broken():
		p.retire(es, "init error")
		if ie := env.InitError(); ie != nil {
			return fmt.Errorf("%w: %s: %s: %s", ErrInit, fn.Name, ie.ErrorType, ie.ErrorMessage)
		}
		return fmt.Errorf("%w: %s: %s", ErrInit, fn.Name, env.Reason())
	case <-inst.Exited():
		p.retire(es, "exited during init")
		return fmt.Errorf("%w: %s: the runtime exited before asking for an invocation (Runtime.ExitError)", ErrInit, fn.Name)
	case <-timer.C:
		p.retire(es, "init timed out")
		return fmt.Errorf("%w: %s: init did not finish within %s", ErrInit, fn.Name, p.cfg.InitTimeout)
	case <-ctx.Done():
		p.retire(es, "caller went away during init")
		return ctx.Err()
	}
	es.initDur = time.Since(start)
	p.mu.Lock()
	gone := es.gone // deleted or replaced while starting
	if !gone {
		st.stats.ColdStarts++
	}
	p.mu.Unlock()
	if gone {
		p.retire(es, "the function changed")
		return fmt.Errorf("%w: %s: the function was deleted or updated during init", ErrClosed, fn.Name)
	}
	// A runtime that exits (a panic, os.Exit) takes its environment along.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-inst.Exited():
			p.retire(es, "the runtime exited")
		case <-es.retired:
		case <-p.done:
		}
	}()
	return nil
}

// replacedDone lets the environments a configuration change retired stop:
// the invocation that started their replacement has its answer (see
// stopAside).
func (p *Pool) replacedDone(st *fnState) {
	p.mu.Lock()
	if st.replaced != nil {
		close(st.replaced)
		st.replaced = nil
	}
	p.mu.Unlock()
}

func environment(fn Function, api string, perEnv int) []string {
	env := make([]string, 0, len(fn.Env)+8)
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return append(env,
		"AWS_LAMBDA_RUNTIME_API="+api,
		"AWS_LAMBDA_FUNCTION_NAME="+fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(fn.MemoryMiB),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+fn.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=orch",
		"AWS_LAMBDA_MAX_CONCURRENCY="+strconv.Itoa(perEnv),
		"AWS_REGION=us-east-1",
		"_HANDLER=bootstrap",
	)
}

// retire removes es from its function and stops it. A starting
// environment is stopped by its cold start, which sees gone.
func (p *Pool) retire(es *envState, why string) { p.retireAfter(es, why, nil) }

// retireAfter is retire, stopping the container once after is closed (see
// stopAside).
func (p *Pool) retireAfter(es *envState, why string, after <-chan struct{}) {
	p.mu.Lock()
	for _, st := range p.funcs {
		for i, e := range st.envs {
			if e == es {
				st.envs = append(st.envs[:i:i], st.envs[i+1:]...)
				break
			}
		}
	}
	es.gone = true
	env, inst := es.env, es.inst
	stopped := es.stopped
	es.stopped = true
	if !stopped {
		close(es.retired)
	}
	p.mu.Unlock()
	if stopped {
		return
	}
	if inst == nil || after == nil {
		// A starting environment (its cold start stops the instance
		// when it sees stopped) or one to stop now.
		if env != nil {
			env.Close(why)
		}
		after = nil
	}
	if inst != nil {
		// Stopping a container takes a Docker round trip or more (hundreds
		// of ms on a busy host): do it aside, so that a configuration
		// change or a deletion does not hold up the invocations (and the
		// agent's invocation stream) behind it. Close waits for it.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.stopAside(env, inst, why, after)
		}()
	}
}

// retireStopWait bounds how long a retired environment's stop waits for
// the cold start of its replacement.
const retireStopWait = 3 * time.Second

// stopAside stops a retired environment. With after set (a configuration
// change) it first waits until the replacement has answered its first
// invocation, at most retireStopWait, and only then closes the old
// endpoint (env, still open) and stops the container: a configuration
// change retires the old environments just as the new one starts, and
// Docker tearing the old container down (its exit, network and file
// system clean-up, its removal) while it creates and starts the new one
// made that cold start slower. Closing the endpoint earlier was enough to
// start that teardown: the runtime exits when its poll fails. Meanwhile
// the old environment takes no new invocation (it is out of the pool's
// list), and an invocation it is still running may finish.
func (p *Pool) stopAside(env *Env, inst Instance, why string, after <-chan struct{}) {
	if after != nil {
		t := time.NewTimer(retireStopWait)
		defer t.Stop()
		select {
		case <-after:
		case <-t.C:
		case <-p.done:
		}
		if env != nil {
			env.Close(why)
		}
	}
	inst.Stop()
}

func (p *Pool) reap() {
	defer p.wg.Done()
	tick := p.cfg.IdleTimeout / 4
	if tick > 5*time.Second {
		tick = 5 * time.Second
	}
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			var idle []*envState
			p.mu.Lock()
			for _, st := range p.funcs {
				for _, e := range st.envs {
					if e.inflight == 0 && e.inst != nil && now.Sub(e.lastUsed) >= p.cfg.IdleTimeout {
						idle = append(idle, e)
					}
				}
			}
			p.mu.Unlock()
			for _, e := range idle {
				p.retire(e, "idle")
			}
		}
	}
}

// Close stops every environment and the pool's goroutines.
func (p *Pool) Close() {
	close(p.done)
	p.mu.Lock()
	var all []*envState
	for _, st := range p.funcs {
		all = append(all, st.envs...)
	}
	p.mu.Unlock()
	for _, e := range all {
		p.retire(e, "the agent is stopping")
	}
	p.wg.Wait()
}
