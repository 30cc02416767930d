package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// Config configures a Runtime.
type Config struct {
	// CPU and MemoryMiB are what Capacity reports (default 4096 and 8192).
	CPU       int
	MemoryMiB int
	// Images are present from the start, as if pulled.
	Images []string
	// Journal records lifecycle operations for Journal (off by default so
	// hollow nodes do not grow a log).
	Journal bool
	// DynamicPortStart is the first dynamic host port (default 32768).
	DynamicPortStart int
}

// Runtime is the in-memory runtime. The zero value is not usable; call New.
type Runtime struct {
	mu         sync.Mutex
	cpu, mem   int
	images     map[string]bool
	pullErrs   map[string]string
	containers map[string]*container // by id
	names      map[string]string     // name -> id
	order      []string              // ids in creation order
	seq        int
	nextPort   int
	portStart  int
	subs       map[*subscriber]struct{}
	down       error
	// downSig is closed (and replaced) when the engine goes down: the
	// waits in progress break, as Docker's do when its daemon exits.
	downSig   chan struct{}
	journalOn bool
	journal   []string
	closed    bool
}

type container struct {
	state  runtime.State
	spec   runtime.ContainerSpec
	script script
	gen    int           // run generation; timers of older runs do nothing
	timers []*time.Timer // pending timers of the current run
	exited chan struct{} // closed when the current run ends
	logs   []logLine
	logSig chan struct{} // closed and replaced when logs grow or the run ends
	gone   bool          // removed
}

type logLine struct {
	at   time.Time
	text string
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns an empty runtime.
func New(opts Config) *Runtime {
	if opts.CPU <= 0 {
		opts.CPU = 4096
	}
	if opts.MemoryMiB <= 0 {
		opts.MemoryMiB = 8192
	}
	if opts.DynamicPortStart <= 0 {
		opts.DynamicPortStart = 32768
	}
	rt := &Runtime{
		cpu: opts.CPU, mem: opts.MemoryMiB,
		images:     map[string]bool{},
		pullErrs:   map[string]string{},
		containers: map[string]*container{},
		names:      map[string]string{},
		subs:       map[*subscriber]struct{}{},
		downSig:    make(chan struct{}),
		journalOn:  opts.Journal,
		nextPort:   opts.DynamicPortStart,
		portStart:  opts.DynamicPortStart,
	}
	for _, im := range opts.Images {
		rt.images[normImage(im)] = true
	}
	return rt
}

// Name implements runtime.Runtime.
func (rt *Runtime) Name() string { return "fake" }

// Capacity implements runtime.Runtime.
func (rt *Runtime) Capacity(ctx context.Context) (int, int, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return 0, 0, rt.down
	}
	return rt.cpu, rt.mem, nil
}

// SetCapacity changes what Capacity reports.
func (rt *Runtime) SetCapacity(cpuUnits, memoryMiB int) {
	rt.mu.Lock()
	rt.cpu, rt.mem = cpuUnits, memoryMiB
	rt.mu.Unlock()
}

// Ping implements runtime.Runtime.
func (rt *Runtime) Ping(ctx context.Context) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.down
}

func normImage(image string) string {
	// "busybox" and "busybox:latest" are the same image.
	last := image[strings.LastIndexByte(image, '/')+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		return image + ":latest"
	}
	return image
}

// EnsureImage implements runtime.Runtime.
func (rt *Runtime) EnsureImage(ctx context.Context, image, policy string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return rt.down
	}
	key := normImage(image)
	present := rt.images[key]
	switch policy {
	case "never":
		if !present {
			return fmt.Errorf("image %s is not present on the node and its pull policy is never: %w", image, runtime.ErrNotFound)
		}
		return nil
	case "always":
	default: // if-not-present
		if present {
			return nil
		}
	}
	if msg, ok := rt.pullErrs[key]; ok {
		return errors.New(msg)
	}
	if strings.Contains(image, "unpullable") {
		repo := key[:strings.LastIndexByte(key, ':')]
		return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", repo)
	}
	rt.images[key] = true
	rt.record("pull %s", image)
	return nil
}

// SetPullError makes pulls of image fail with text ("" clears it).
func (rt *Runtime) SetPullError(image, text string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if text == "" {
		delete(rt.pullErrs, normImage(image))
	} else {
		rt.pullErrs[normImage(image)] = text
	}
}

// AddImages makes images present, as if pulled.
func (rt *Runtime) AddImages(images ...string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, im := range images {
		rt.images[normImage(im)] = true
	}
}

// HasImage reports whether image is present.
func (rt *Runtime) HasImage(image string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.images[normImage(image)]
}

// Create implements runtime.Runtime.
func (rt *Runtime) Create(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sc, err := scriptFor(spec)
	if err != nil {
		return "", err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return "", rt.down
	}
	if sc.createErr != "" {
		return "", errors.New(sc.createErr)
	}
	if sc.pullErr != "" {
		return "", errors.New(sc.pullErr)
	}
	if spec.Name == "" {
		return "", errors.New("fake: container name is required")
	}
	if id, ok := rt.names[spec.Name]; ok {
		return "", fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", spec.Name, id)
	}
	if !rt.images[normImage(spec.Image)] {
		return "", fmt.Errorf("No such image: %s: %w", spec.Image, runtime.ErrNotFound)
	}
	rt.seq++
	sum := sha256.Sum256([]byte(spec.Name + "/" + strconv.Itoa(rt.seq)))
	id := hex.EncodeToString(sum[:])
	spec.Labels = maps.Clone(spec.Labels)
	spec.Env = slices.Clone(spec.Env)
	spec.Ports = slices.Clone(spec.Ports)
	c := &container{
		spec:   spec,
		script: sc,
		logSig: make(chan struct{}),
		state: runtime.State{
			ID: id, Name: spec.Name, Image: spec.Image, Labels: spec.Labels,
			Status: runtime.StatusCreated,
		},
	}
	rt.containers[id] = c
	rt.names[spec.Name] = id
	rt.order = append(rt.order, id)
	rt.record("create %s", spec.Name)
	rt.emit(c, "create")
	return id, nil
}

// lookup finds by id, name or unique id prefix. Caller holds mu.
func (rt *Runtime) lookup(ref string) *container {
	if c, ok := rt.containers[ref]; ok {
		return c
	}
	if id, ok := rt.names[strings.TrimPrefix(ref, "/")]; ok {
		return rt.containers[id]
	}
	if len(ref) >= 6 {
		var found *container
		for id, c := range rt.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil
				}
				found = c
			}
		}
		return found
	}
	return nil
}

func notFound(ref string) error {
	return fmt.Errorf("No such container: %s: %w", ref, runtime.ErrNotFound)
}

// Start implements runtime.Runtime.
func (rt *Runtime) Start(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return rt.down
	}
	c := rt.lookup(id)
	if c == nil {
		return notFound(id)
	}
	if c.state.Status == runtime.StatusRunning {
		return nil
	}
	if c.script.startErr != "" {
		c.state.Error = c.script.startErr
		c.state.ExitCode = 128
		rt.record("start_error %s", c.spec.Name)
		return errors.New(c.script.startErr)
	}
	ports, err := rt.allocatePorts(c)
	if err != nil {
		c.state.Error = err.Error()
		c.state.ExitCode = 128
		return err
	}
	now := time.Now()
	c.gen++
	gen := c.gen
	c.exited = make(chan struct{})
	c.state.Status = runtime.StatusRunning
	c.state.Ports = ports
	c.state.ExitCode, c.state.Error, c.state.OOMKilled = 0, "", false
	c.state.StartedAt, c.state.FinishedAt = now, time.Time{}
	c.state.Health = ""
	rt.record("start %s", c.spec.Name)
	rt.emit(c, "start")
	text := c.script.logText
	if text == "" {
		text = "hello from " + c.spec.Name
	}
	rt.appendLog(c, now, fmt.Sprintf("[fake] %s started (image %s)", c.spec.Name, c.spec.Image))
	for i := 1; i <= c.script.logLines; i++ {
		rt.appendLog(c, now, fmt.Sprintf("%s (%d/%d)", text, i, c.script.logLines))
	}
	if c.spec.HealthCheck != nil {
		h, after := c.script.health, c.script.healthAfter
		if h == "" {
			h = "healthy"
		}
		if after == 0 || h == "starting" {
			rt.setHealth(c, h)
		} else {
			rt.setHealth(c, "starting")
			rt.after(c, after, func() { rt.setHealth(c, h) })
		}
	}
	if c.script.hasRunFor {
		code, oom := c.script.exitCode, c.script.oom
		if oom {
			code = 137
		}
		rt.after(c, c.script.runFor, func() { rt.exit(c, gen, code, oom, "") })
	}
	if c.script.logEvery > 0 {
		var tick func()
		n := 0
		tick = func() {
			n++
			rt.appendLog(c, time.Now(), fmt.Sprintf("%s (tick %d)", text, n))
			rt.after(c, c.script.logEvery, tick)
		}
		rt.after(c, c.script.logEvery, tick)
	}
	return nil
}

// allocatePorts publishes c's ports. Caller holds mu.
func (rt *Runtime) allocatePorts(c *container) ([]runtime.PortBinding, error) {
	inUse := map[string]bool{}
	for _, o := range rt.containers {
		if o.state.Status == runtime.StatusRunning {
			for _, p := range o.state.Ports {
				inUse[portKey(p.Protocol, p.HostPort)] = true
			}
		}
	}
	var out []runtime.PortBinding
	for _, p := range c.spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		host := p.HostPort
		if host == 0 {
			for tries := 0; ; tries++ {
				if tries > 30000 {
					return nil, errors.New("fake: no free dynamic host port")
				}
				host = rt.nextPort
				rt.nextPort++
				if rt.nextPort > 60999 {
					rt.nextPort = rt.portStart
				}
				if !inUse[portKey(proto, host)] {
					break
				}
			}
		} else if inUse[portKey(proto, host)] {
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			return nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s: Bind for %s:%d failed: port is already allocated", c.spec.Name, ip, host)
		}
		inUse[portKey(proto, host)] = true
		out = append(out, runtime.PortBinding{ContainerPort: p.ContainerPort, HostPort: host, Protocol: proto, HostIP: p.HostIP})
	}
	return out, nil
}

func portKey(proto string, port int) string { return proto + "/" + strconv.Itoa(port) }

// after runs f under mu after d, unless the run ended. Caller holds mu.
func (rt *Runtime) after(c *container, d time.Duration, f func()) {
	gen := c.gen
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		c.timers = slices.DeleteFunc(c.timers, func(x *time.Timer) bool { return x == t })
		if c.gen != gen || c.gone || c.state.Status != runtime.StatusRunning || rt.closed {
			return
		}
		f()
	})
	c.timers = append(c.timers, t)
}

// exit ends run gen of c. Caller holds mu.
func (rt *Runtime) exit(c *container, gen, code int, oom bool, why string) {
	if c.gen != gen || c.state.Status != runtime.StatusRunning {
		return
	}
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	now := time.Now()
	c.state.Status = runtime.StatusExited
	c.state.ExitCode = code
	c.state.OOMKilled = oom
	c.state.FinishedAt = now
	if c.spec.HealthCheck != nil {
		// Like Docker: a stopped container's check reads "unhealthy".
		c.state.Health = "unhealthy"
	}
	if why != "" {
		rt.appendLog(c, now, why)
	}
	rt.appendLog(c, now, fmt.Sprintf("[fake] %s exited with code %d", c.spec.Name, code))
	close(c.exited)
	if oom {
		rt.emit(c, "oom")
	}
	rt.record("die %s %d", c.spec.Name, code)
	rt.emit(c, "die")
}

func (rt *Runtime) setHealth(c *container, h string) {
	if c.state.Health == h {
		return
	}
	c.state.Health = h
	rt.record("health %s %s", c.spec.Name, h)
	rt.emit(c, "health_status")
}

// Stop implements runtime.Runtime.
func (rt *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	rt.mu.Lock()
	if rt.down != nil {
		rt.mu.Unlock()
		return rt.down
	}
	c := rt.lookup(id)
	if c == nil {
		rt.mu.Unlock()
		return notFound(id)
	}
	if c.state.Status != runtime.StatusRunning {
		rt.mu.Unlock()
		return nil
	}
	if timeout < 0 {
		timeout = 0
	}
	gen := c.gen
	rt.record("stop %s", c.spec.Name)
	kill := func() { rt.exit(c, gen, 137, false, "[fake] killed after stop timeout") }
	term := func() { rt.exit(c, gen, 143, false, "[fake] received SIGTERM, exiting") }
	switch {
	case timeout == 0: // like docker stop -t 0
		kill()
	case c.script.ignoreSigterm || c.script.stopDelay >= timeout:
		rt.after(c, timeout, kill)
	case c.script.stopDelay > 0:
		rt.after(c, c.script.stopDelay, term)
	default:
		term()
	}
	done := c.exited
	rt.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove implements runtime.Runtime.
func (rt *Runtime) Remove(ctx context.Context, id string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return rt.down
	}
	c := rt.lookup(id)
	if c == nil {
		return notFound(id)
	}
	rt.exit(c, c.gen, 137, false, "")
	c.gone = true
	delete(rt.containers, c.state.ID)
	delete(rt.names, c.spec.Name)
	rt.order = slices.DeleteFunc(rt.order, func(x string) bool { return x == c.state.ID })
	close(c.logSig)
	rt.record("remove %s", c.spec.Name)
	rt.emit(c, "destroy")
	return nil
}

func (c *container) snapshot() runtime.State {
	s := c.state
	s.Labels = maps.Clone(c.state.Labels)
	s.Ports = slices.Clone(c.state.Ports)
	return s
}

// Inspect implements runtime.Runtime. It accepts an id, a name or an id prefix.
func (rt *Runtime) Inspect(ctx context.Context, id string) (runtime.State, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return runtime.State{}, rt.down
	}
	c := rt.lookup(id)
	if c == nil {
		return runtime.State{}, notFound(id)
	}
	return c.snapshot(), nil
}

// Wait implements runtime.Runtime: it returns when the container's
// current run ends (at once when it is not running or is gone). SetDown
// breaks it with its error, as a daemon restart breaks Docker's wait.
func (rt *Runtime) Wait(ctx context.Context, id string) error {
	rt.mu.Lock()
	if rt.down != nil {
		rt.mu.Unlock()
		return rt.down
	}
	c := rt.lookup(id)
	if c == nil || c.state.Status != runtime.StatusRunning {
		rt.mu.Unlock()
		return nil
	}
	done, down := c.exited, rt.downSig
	rt.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-down:
		rt.mu.Lock()
		defer rt.mu.Unlock()
		if rt.down == nil { // already back: the wait broke all the same
			return errors.New("fake: the wait broke (the engine went down)")
		}
		return rt.down
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List implements runtime.Runtime (managed containers only, creation order).
func (rt *Runtime) List(ctx context.Context, match map[string]string) ([]runtime.State, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return nil, rt.down
	}
	var out []runtime.State
	for _, id := range rt.order {
		c := rt.containers[id]
		if c.state.Labels[runtime.LabelManaged] != "true" {
			continue
		}
		ok := true
		for k, v := range match {
			if c.state.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c.snapshot())
		}
	}
	return out, nil
}

// Containers returns every container, managed or not, in creation order.
func (rt *Runtime) Containers() []runtime.State {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]runtime.State, 0, len(rt.order))
	for _, id := range rt.order {
		out = append(out, rt.containers[id].snapshot())
	}
	return out
}

// Stats implements runtime.Runtime. A container that is not running uses nothing.
func (rt *Runtime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return runtime.Stats{}, rt.down
	}
	c := rt.lookup(id)
	if c == nil {
		return runtime.Stats{}, notFound(id)
	}
	if c.state.Status != runtime.StatusRunning {
		return runtime.Stats{}, nil
	}
	st := runtime.Stats{CPUPercent: 0.5, MemoryBytes: 16 << 20}
	if c.script.hasCPU {
		st.CPUPercent = c.script.cpu
	}
	switch {
	case c.script.hasMem:
		st.MemoryBytes = c.script.memMiB << 20
	case c.spec.MemoryReservationBytes > 0:
		st.MemoryBytes = c.spec.MemoryReservationBytes
	case c.spec.MemoryBytes > 0:
		st.MemoryBytes = c.spec.MemoryBytes / 2
	}
	return st, nil
}

// Exit makes a running container exit with code now, as if it crashed.
func (rt *Runtime) Exit(id string, code int) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	c := rt.lookup(id)
	if c == nil {
		return notFound(id)
	}
	if c.state.Status != runtime.StatusRunning {
		return fmt.Errorf("fake: container %s is %s, not running", c.spec.Name, c.state.Status)
	}
	rt.exit(c, c.gen, code, false, "")
	return nil
}

// SetHealth sets a running container's health (healthy, unhealthy, starting).
func (rt *Runtime) SetHealth(id, health string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	c := rt.lookup(id)
	if c == nil {
		return notFound(id)
	}
	if c.state.Status != runtime.StatusRunning {
		return fmt.Errorf("fake: container %s is %s, not running", c.spec.Name, c.state.Status)
	}
	rt.setHealth(c, health)
	return nil
}

// SetDown simulates an unreachable engine: while err is non-nil every call
// fails with it, Events streams and waits break with it and new ones fail
// at once.
// Containers keep running (like Docker's live-restore). SetDown(nil) brings
// the engine back.
func (rt *Runtime) SetDown(err error) {
	rt.mu.Lock()
	rt.down = err
	var subs []*subscriber
	if err != nil {
		close(rt.downSig)
		rt.downSig = make(chan struct{})
		for s := range rt.subs {
			subs = append(subs, s)
		}
		clear(rt.subs)
	}
	rt.mu.Unlock()
	for _, s := range subs {
		s.breakWith(err)
	}
}

// Journal returns the recorded operations in order ("create NAME",
// "start NAME", "health NAME healthy", "stop NAME", "die NAME CODE",
// "remove NAME", "pull IMAGE", "start_error NAME"), when Config.Journal.
func (rt *Runtime) Journal() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.journal)
}

func (rt *Runtime) record(format string, args ...any) {
	if rt.journalOn {
		rt.journal = append(rt.journal, fmt.Sprintf(format, args...))
	}
}

// Close stops all timers and ends all event streams. Containers freeze.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	rt.closed = true
	for _, c := range rt.containers {
		for _, t := range c.timers {
			t.Stop()
		}
		c.timers = nil
	}
	var subs []*subscriber
	for s := range rt.subs {
		subs = append(subs, s)
	}
	clear(rt.subs)
	rt.mu.Unlock()
	for _, s := range subs {
		s.breakWith(errors.New("fake: runtime closed"))
	}
}

// Spec returns the spec a container was created with (by id or name).
func (rt *Runtime) Spec(id string) (runtime.ContainerSpec, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	c := rt.lookup(id)
	if c == nil {
		return runtime.ContainerSpec{}, false
	}
	s := c.spec
	s.Labels = maps.Clone(s.Labels)
	s.Env = slices.Clone(s.Env)
	s.Ports = slices.Clone(s.Ports)
	return s, true
}
