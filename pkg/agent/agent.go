package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/pki"
)

// Version is reported at register; cmd/orchlet may set it with -ldflags.
var Version = "dev"

// LabelStopTimeout is an extra label on every container: its stop timeout in
// seconds, so StopAll can honour it for containers it finds in the runtime.
const LabelStopTimeout = "orch.stop-timeout"

// Defaults.
const (
	DefaultStoppedRetention  = time.Hour
	DefaultHeartbeatInterval = 2 * time.Second // servers say how often; this is the fallback
	DefaultStatsInterval     = 10 * time.Second
	DefaultListenAddr        = "127.0.0.1:0"
)

// Config configures an Agent.
type Config struct {
	// NodeName is the node's name in the cluster (default: the hostname).
	NodeName string
	// Capacity overrides what the runtime reports; a zero field is read
	// from the runtime.
	Capacity model.Resources
	// Attributes are extra node attributes; the built-in os, arch,
	// hostname and node are added at register and win over these.
	Attributes map[string]string
	// ReservedPorts are host ports tasks must never get ("tcp/22"); the
	// agent's own HTTP port is always added.
	ReservedPorts []string
	// ListenAddr is where the agent's own HTTP server (logs) listens;
	// "" means 127.0.0.1:0.
	ListenAddr string
	// AdvertiseAddr is host:port the control plane uses to reach that
	// server; "" derives it from the listener.
	AdvertiseAddr string
	Runtime       runtime.Runtime
	ControlPlane  ControlPlane
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// StoppedRetention is how long stopped containers are kept so their
	// logs stay readable (default 1h).
	StoppedRetention time.Duration
	// HeartbeatInterval overrides the interval the control plane returns.
	HeartbeatInterval time.Duration
	// StatsInterval is how often running tasks' usage is sampled (default
	// 10s; negative disables sampling).
	StatsInterval time.Duration
	// TaskEndpointListen is where the task endpoints (metadata v4, scale-in
	// protection) listen; "" means 0.0.0.0:0 under Docker (containers reach
	// the host through the bridge) and 127.0.0.1:0 otherwise.
	TaskEndpointListen string
	// TaskEndpointHost is the host containers use to reach that listener;
	// "" means host.docker.internal under Docker, else the listen host.
	TaskEndpointHost string
	// ContainerEnv is added to every container's environment, after the
	// environment the control plane returns at register and before the
	// task definition's own (which therefore wins).
	ContainerEnv map[string]string
	// Functions, when set, runs function environments on this node for
	// the invocations the control plane streams (see functions.go).
	Functions *FunctionsConfig
	// CABundle is the cluster CA (PEM) the servers' certificates chain
	// to; containers get it mounted read-only at CABundlePath with
	// AWS_CA_BUNDLE pointing there, so stock AWS SDKs trust the endpoint.
	CABundle []byte
}

// Agent is orchlet: it registers the node, follows its assignments and runs
// each assigned task with one goroutine stepping that task's state machine.
type Agent struct {
	cfg   Config
	node  string
	log   *slog.Logger
	rt    runtime.Runtime
	cp    ControlPlane
	token string
	rep   *reporter
	// logTLS: the log server's key and, once registered in a TLS
	// cluster, its certificate (logtls.go).
	logTLS *logTLS

	// Backoff bounds for the session (register, assignment stream) and the
	// runtime event stream; tests shorten them.
	minBackoff, maxBackoff time.Duration

	mu           sync.Mutex
	started      bool
	runCtx       context.Context // nil unless Run is active
	tasks        map[string]*taskRunner
	stoppingAll  bool
	serverEnv    map[string]string
	cluster      string // the cluster id from registration ("" before, or from an old server)
	addr         string
	sweeping     map[string]bool        // container ids being removed as strays
	endpoints    map[string]*taskRunner // by endpoint secret
	endpointBase string                 // http://host:port containers use, "" until Run listens
	endpointPort string                 // the task endpoints' listen port (LabelEndpointPort)
	caFile       string                 // the cluster CA on this host, mounted into containers ("" without TLS)
	// credentialsBase is the task endpoints' URL as the SDKs accept it for
	// container credentials (credentials.go): http://169.254.170.2:PORT
	// under Docker, else the loopback endpointBase.
	credentialsBase string
	synced          bool // a snapshot has been applied

	taskWG sync.WaitGroup

	// fnStopping is closed (once, by StopAll) to make the functions
	// drain before Run's ctx ends; fnDrained closes when they have
	// (functions.go). fnStarted: Run started them.
	fnStopping chan struct{}
	fnStopOnce sync.Once
	fnDrained  chan struct{}
	fnStarted  bool
	// hbInterval is the heartbeat interval of the last registration
	// (0 before): heartbeatWhileDraining keeps it.
	hbInterval atomic.Int64
}

// New checks cfg and returns an agent; nothing runs until Run.
func New(cfg Config) (*Agent, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("agent: Config.Runtime is required")
	}
	if cfg.ControlPlane == nil {
		return nil, errors.New("agent: Config.ControlPlane is required")
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return nil, fmt.Errorf("agent: no node name given and the hostname is unknown (%v); set Config.NodeName", err)
		}
		cfg.NodeName = h
	}
	if cfg.Capacity.CPU < 0 || cfg.Capacity.MemoryMiB < 0 {
		return nil, fmt.Errorf("agent: capacity override %+v: values must not be negative (0 reads them from the runtime)", cfg.Capacity)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StoppedRetention <= 0 {
		cfg.StoppedRetention = DefaultStoppedRetention
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("agent: generating the callback token: %w", err)
	}
	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("agent: generating the log server's key: %w", err)
	}
	log := cfg.Logger.With("node", cfg.NodeName)
	caFile, err := writeCABundle(cfg.CABundle)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		caFile:     caFile,
		cfg:        cfg,
		node:       cfg.NodeName,
		log:        log,
		rt:         cfg.Runtime,
		cp:         cfg.ControlPlane,
		token:      hex.EncodeToString(tok),
		logTLS:     &logTLS{key: servingKey},
		rep:        newReporter(cfg.ControlPlane, cfg.NodeName, log),
		minBackoff: 250 * time.Millisecond,
		maxBackoff: 30 * time.Second,
		tasks:      map[string]*taskRunner{},
		sweeping:   map[string]bool{},
		endpoints:  map[string]*taskRunner{},
		fnStopping: make(chan struct{}),
		fnDrained:  make(chan struct{}),
	}
	return a, nil
}

// NodeName is the node's name.
func (a *Agent) NodeName() string { return a.node }

// Addr is the address the agent's HTTP server listens on ("" until Run has
// started it).
func (a *Agent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// CallbackToken is the bearer token the logs endpoint requires; it is sent
// to the control plane at register.
func (a *Agent) CallbackToken() string { return a.token }

// Run serves the logs endpoint, registers the node and runs its assigned
// tasks until ctx ends. It returns nil when ctx ends and never stops
// containers on the way out: a restarted agent adopts them. It returns an
// error at once when the control plane rejects the node's credentials
// (wire.ErrUnauthorized) or the HTTP server cannot listen. Run may be called
// once.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.started = true
	a.mu.Unlock()

	ln, err := net.Listen("tcp", a.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("agent: listen on %s for the logs endpoint: %w (set another --listen address)", a.cfg.ListenAddr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	taddr, reused := a.taskEndpointListen(ctx)
	tln, err := net.Listen("tcp", taddr)
	if err != nil && reused {
		// Someone took the port while the agent was down: serving new
		// tasks matters more than the adopted ones' endpoint URLs.
		a.log.Error("the previous task endpoint port is taken; listening on a new one, so adopted containers' ECS_CONTAINER_METADATA_URI_V4 and ECS_AGENT_URI stop working (free the port, or set --task-endpoint-listen)", "addr", taddr, "err", err)
		host, _, _ := net.SplitHostPort(taddr)
		taddr = net.JoinHostPort(host, "0")
		tln, err = net.Listen("tcp", taddr)
	}
	if err != nil {
		ln.Close()
		return fmt.Errorf("agent: listen on %s for the task endpoints: %w (set another --task-endpoint-listen address)", taddr, err)
	}
	tsrv := &http.Server{
		Handler:           a.taskEndpointHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(tlsOnceIssued{ln, a.logTLS}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("agent HTTP server stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := tsrv.Serve(tln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("agent task endpoint server stopped", "err", err)
		}
	})
	credBase := a.credentialsEndpointBase(ctx, tln.Addr().String())
	a.mu.Lock()
	a.endpointBase = a.taskEndpointBase(tln.Addr().String())
	_, a.endpointPort, _ = net.SplitHostPort(tln.Addr().String())
	a.credentialsBase = credBase
	a.addr = ln.Addr().String()
	a.runCtx = ctx
	a.mu.Unlock()
	defer func() {
		cancel()
		_ = srv.Close()
		_ = tsrv.Close()
		wg.Wait()
		a.taskWG.Wait()
		a.mu.Lock()
		a.runCtx = nil
		a.mu.Unlock()
	}()

	// Startup sync: subscribe to runtime events first so nothing that
	// happens after the listing is missed, then list what a previous run
	// left behind. Tasks adopt their containers when their assignments
	// arrive; the rest are removed after the first snapshot.
	subscribed := make(chan struct{})
	wg.Go(func() { a.watchRuntime(ctx, subscribed) })
	select {
	case <-subscribed:
	case <-ctx.Done():
		return nil
	}
	if !a.listExisting(ctx) {
		return nil
	}
	wg.Go(func() { a.rep.run(ctx) })
	wg.Go(func() { a.statsLoop(ctx) })
	a.mu.Lock()
	a.fnStarted = true
	a.mu.Unlock()
	wg.Go(func() { a.runFunctions(ctx) })
	a.log.Info("agent started", "address", a.Addr(), "runtime", a.rt.Name(), "version", Version)
	err = a.session(ctx)
	if err != nil {
		a.log.Error("agent stopping", "err", err)
	} else {
		a.heartbeatWhileDraining()
		a.mu.Lock()
		stoppedAll := a.stoppingAll
		a.mu.Unlock()
		if stoppedAll {
			a.log.Info("agent stopping; StopAll stopped its containers")
		} else {
			a.log.Info("agent stopping; containers keep running")
		}
	}
	return err
}

// listExisting lists the containers a previous run left, retrying while the
// runtime is unreachable. It reports false when ctx ended.
func (a *Agent) listExisting(ctx context.Context) bool {
	b := newBackoff(a.minBackoff, a.maxBackoff)
	for {
		states, err := a.rt.List(ctx, a.selector())
		if err == nil {
			running := 0
			for _, s := range states {
				if s.Status == runtime.StatusRunning {
					running++
				}
			}
			if len(states) > 0 {
				a.log.Info("found containers from a previous run; adopting those still assigned", "containers", len(states), "running", running)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := b.next()
		a.log.Warn("container runtime unreachable; retrying", "err", err, "retryIn", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return false
		}
	}
}

// StopAll stops every container the agent manages on this node (each with
// its stop timeout) and returns when they have stopped or ctx ends. While
// Run is active the tasks are reported STOPPED (stop code UserInitiated) and
// new assignments are not started. Containers are not removed. Function
// invocations drain first, as when Run's ctx ends (runFunctions): no new
// ones, those running finish and their results are posted; StopAll
// returns after that too.
func (a *Agent) StopAll(ctx context.Context) error {
	a.fnStopOnce.Do(func() { close(a.fnStopping) })
	a.mu.Lock()
	a.stoppingAll = true
	fnStarted := a.fnStarted
	active := a.runCtx != nil
	var runners []*taskRunner
	for _, r := range a.tasks {
		runners = append(runners, r)
	}
	a.mu.Unlock()
	a.log.Info("stopping all containers", "tasks", len(runners))
	for _, r := range runners {
		r.requestLocalStop()
	}
	for _, r := range runners {
		select {
		case <-r.stoppedC:
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("agent: stopping all containers: %w", ctx.Err())
		}
	}
	// Whatever is still running (Run not active, or containers no task
	// owns) is stopped directly.
	states, err := a.rt.List(ctx, a.selector())
	if err != nil {
		return fmt.Errorf("agent: stopping all containers: listing them: %w", err)
	}
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	for _, st := range states {
		if st.Status != runtime.StatusRunning {
			continue
		}
		wg.Go(func() {
			if err := a.rt.Stop(ctx, st.ID, stopTimeoutOf(st)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				emu.Lock()
				errs = append(errs, fmt.Errorf("stop container %s: %w", st.Name, err))
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	if fnStarted {
		select {
		case <-a.fnDrained:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("function invocations still draining: %w", ctx.Err()))
		}
	}
	if active {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_ = a.rep.flushed(fctx)
		cancel()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent: stopping all containers: %w", err)
	}
	return nil
}

// RemoveAll removes this node's stopped containers (and their scratch
// volumes) at once instead of after Config.StoppedRetention, and returns
// how many it removed. orch dev calls it on Ctrl-C, after StopAll and once
// Run has returned, so a one-host cluster leaves no containers behind;
// containers still running are left alone and reported as an error.
func (a *Agent) RemoveAll(ctx context.Context) (int, error) {
	states, err := a.rt.List(ctx, map[string]string{runtime.LabelNode: a.node})
	if err != nil {
		return 0, fmt.Errorf("agent: removing containers: listing them: %w", err)
	}
	removed := 0
	var errs []error
	for _, st := range states {
		if st.Status == runtime.StatusRunning {
			errs = append(errs, fmt.Errorf("container %s is still running (stop it first)", st.Name))
			continue
		}
		if err := a.rt.Remove(ctx, st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", st.Name, err))
			continue
		}
		removed++
		if task := st.Labels[runtime.LabelTask]; task != "" {
			removeScratch(task)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("agent: removing containers: %w", err)
	}
	return removed, nil
}

func stopTimeoutOf(st runtime.State) time.Duration {
	if n, err := strconv.Atoi(st.Labels[LabelStopTimeout]); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return 30 * time.Second
}

// registerRequest builds the request from the config and the runtime.
func (a *Agent) registerRequest(ctx context.Context) (wire.RegisterRequest, error) {
	capacity := a.cfg.Capacity
	if capacity.CPU == 0 || capacity.MemoryMiB == 0 {
		cpu, mem, err := a.rt.Capacity(ctx)
		if err != nil {
			return wire.RegisterRequest{}, fmt.Errorf("reading capacity from the %s runtime: %w", a.rt.Name(), err)
		}
		if capacity.CPU == 0 {
			capacity.CPU = cpu
		}
		if capacity.MemoryMiB == 0 {
			capacity.MemoryMiB = mem
		}
	}
	attrs := map[string]string{}
	for k, v := range a.cfg.Attributes {
		attrs[k] = v
	}
	host, _ := os.Hostname()
	attrs[model.AttrOS] = goruntime.GOOS
	attrs[model.AttrArch] = goruntime.GOARCH
	attrs[model.AttrHostname] = host
	attrs[model.AttrNodeName] = a.node
	addr := a.advertiseAddr()
	reserved := append([]string(nil), a.cfg.ReservedPorts...)
	if _, port, err := net.SplitHostPort(a.Addr()); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			reserved = append(reserved, model.PortKey("tcp", p))
		}
	}
	servingKey, err := pki.EncodeNodeKey(a.logTLS.key.Public())
	if err != nil {
		return wire.RegisterRequest{}, err
	}
	return wire.RegisterRequest{
		Name:          a.node,
		Capacity:      capacity,
		Attributes:    attrs,
		ReservedPorts: reserved,
		Address:       addr,
		AgentVersion:  Version,
		Runtime:       a.rt.Name(),
		CallbackToken: a.token,
		ServingKey:    servingKey,
	}, nil
}

// advertiseAddr is where the control plane reaches the agent's server.
func (a *Agent) advertiseAddr() string {
	if a.cfg.AdvertiseAddr != "" {
		return a.cfg.AdvertiseAddr
	}
	listen := a.Addr()
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = outboundHost()
	}
	return net.JoinHostPort(host, port)
}

// outboundHost picks the first non-loopback address of the host, else the
// hostname.
func outboundHost() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	h, _ := os.Hostname()
	if h == "" {
		return "127.0.0.1"
	}
	return h
}

// selector is the label match for this agent's containers, plus kv pairs:
// its node and, once registered, its cluster. Containers without a
// cluster label (made before clusters had ids) are left alone: nothing
// proves which cluster they belong to.
func (a *Agent) selector(kv ...string) map[string]string {
	m := map[string]string{runtime.LabelNode: a.node}
	if c := a.clusterID(); c != "" {
		m[runtime.LabelCluster] = c
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (a *Agent) clusterID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cluster
}

// ours reports whether a container with labels belongs to this agent.
func (a *Agent) ours(labels map[string]string) bool {
	if labels[runtime.LabelNode] != a.node {
		return false
	}
	c := a.clusterID()
	return c == "" || labels[runtime.LabelCluster] == c
}
