package function

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// Invocation types (Lambda's X-Amz-Invocation-Type).
const (
	RequestResponse = "RequestResponse"
	Event           = "Event"
	DryRun          = "DryRun"
)

// ErrPayloadTooLarge: a payload over Lambda's limit (6 MB synchronous,
// 1 MB Event).
var ErrPayloadTooLarge = errors.New("function: request payload too large")

// Queues is what the service needs from the queues: reading a mapping's
// queue (its visibility timeout) and sending a failed Event invocation to
// its dead-letter queue. pkg/queue's Broker is one.
type Queues interface {
	GetQueue(ctx context.Context, name string) (*model.Queue, error)
	SendMessage(ctx context.Context, name string, e queue.SendEntry) (*queue.SendResult, error)
}

// Config configures a Service.
type Config struct {
	Store  *store.Store
	Hub    *Hub
	Queues Queues
	Logger *slog.Logger
	// RetryBase is the wait before an Event invocation's first retry; the
	// second waits twice as long (default 10 s; Lambda waits about 1 and
	// 2 minutes).
	RetryBase time.Duration
	// ColdStartMargin is added to a function's timeout while the server
	// waits for an agent's answer (init is not part of the timeout).
	ColdStartMargin time.Duration
	// Slots reaches the replica counting a function's reserved
	// concurrency when it is another one (slots.go); nil: every replica
	// counts on its own (a single server).
	Slots RemoteSlots
}

// Service is the functions' control plane: their configuration and event
// source mappings in the store, and the one entry point every trigger
// (the Lambda API, queue mappings, topic subscriptions) invokes through.
type Service struct {
	cfg   Config
	st    *store.Store
	hub   *Hub
	log   *slog.Logger
	fns   *store.Cache[model.StoredFunction]
	async *asyncDispatcher
	logs  *logRing
	meter *meter
	// slots counts the reserved concurrency of the functions whose
	// shard this replica owns (slots.go).
	slots        *slotTable
	slotWarnedAt atomic.Int64 // unix ns of the last warning about an owner
	// slotOwnerDown: owner URL -> unix ns until which its slots are
	// counted here (it failed a take; slots.go).
	slotOwnerDown sync.Map
}

// New returns a service; Run keeps its cache and the Event retries going.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 10 * time.Second
	}
	if cfg.ColdStartMargin <= 0 {
		cfg.ColdStartMargin = 15 * time.Second
	}
	if cfg.Hub == nil {
		cfg.Hub = NewHub()
	}
	s := &Service{cfg: cfg, st: cfg.Store, hub: cfg.Hub, log: cfg.Logger.With("component", "functions"),
		fns: cfg.Store.FunctionCache(), logs: newLogRing(), meter: newMeter(), slots: newSlotTable()}
	s.async = newAsyncDispatcher(s)
	return s
}

// Hub is where agents attach their invocation streams.
func (s *Service) Hub() *Hub { return s.hub }

// Run keeps the function cache current, delivers stored Event
// invocations (those of a previous run included) and runs a queue poller
// per enabled event source mapping, each on the replica owning its queue
// (and the Event invocations of the functions whose shard it owns; see
// Owner) until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	// Deletions are followed from before the cache is ready, so none made
	// once it is ready goes unseen by the agents.
	deleted := s.fns.SubscribeFilter(func(ch store.Change[model.StoredFunction]) bool { return ch.Obj == nil })
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.fns.Run(ctx) })
	select {
	case <-s.fns.Ready():
	case <-ctx.Done():
	}
	wg.Go(func() { s.async.run(ctx) })
	wg.Go(func() { s.forgetDeleted(ctx, deleted) })
	mappings := s.st.MappingCache()
	wg.Go(func() { _ = mappings.Run(ctx) })
	wg.Go(func() { s.runMappings(ctx, mappings) })
	wg.Wait()
	return nil
}

// forgetDeleted tells the agents about each deleted function (every
// replica tells its own agents; a delete reaching an agent twice is
// harmless).
func (s *Service) forgetDeleted(ctx context.Context, sub *store.Subscription[model.StoredFunction]) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.C():
			for _, ch := range sub.Drain() {
				s.hub.Forget(ch.Key)
				s.meter.forget(ch.Key)
				s.logs.forget(ch.Key)
			}
		}
	}
}

// Name returns a function's name from a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, as Lambda accepts all three.
func Name(ref string) string {
	if i := strings.LastIndex(ref, ":function:"); i >= 0 {
		ref = ref[i+len(":function:"):]
	}
	if i := strings.IndexByte(ref, ':'); i >= 0 { // a qualifier ($LATEST)
		ref = ref[:i]
	}
	return ref
}

// kindError is an error whose message is for the user as it is and whose
// kind (model.ErrNotFound ...) is for errors.Is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func notFound(name string) error {
	return &kindError{"Function not found: " + model.FunctionARN(name), model.ErrNotFound}
}

// Create stores a new function (model.ErrConflict when the name is taken).
func (s *Service) Create(ctx context.Context, f model.Function) (*model.StoredFunction, error) {
	f.Normalize()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	sf := &model.StoredFunction{Function: f}
	sf.Stamp(time.Now())
	if err := s.st.CreateFunction(ctx, sf); err != nil {
		if errors.Is(err, model.ErrConflict) {
			return nil, &kindError{"Function already exist: " + f.FunctionName, err}
		}
		return nil, err
	}
	s.log.Info("function created", "function", f.FunctionName, "image", f.Code.ImageUri)
	return sf, nil
}

// Get reads a function by name or ARN.
func (s *Service) Get(ctx context.Context, ref string) (*model.StoredFunction, error) {
	name := Name(ref)
	f, err := s.st.GetFunction(ctx, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, notFound(name)
	}
	return f, err
}

// List returns every function in name order.
func (s *Service) List(ctx context.Context) ([]*model.StoredFunction, error) {
	return s.st.ListFunctions(ctx)
}

// Update changes a function with fn, validates the result and stores it
// with a new RevisionId; agents replace environments of the old one.
func (s *Service) Update(ctx context.Context, ref string, fn func(*model.Function) error) (*model.StoredFunction, error) {
	name := Name(ref)
	out, err := s.st.UpdateFunction(ctx, name, func(sf *model.StoredFunction) error {
		if err := fn(&sf.Function); err != nil {
			return err
		}
		sf.FunctionName = name
		sf.Normalize()
		if err := sf.Validate(); err != nil {
			return err
		}
		sf.Stamp(time.Now())
		return nil
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, notFound(name)
	}
	return out, err
}

// Tag changes a function's tags with fn (given a map it may change).
// Tags change nothing that runs, so the RevisionId stays and agents keep
// the function's environments.
func (s *Service) Tag(ctx context.Context, ref string, fn func(tags map[string]string) error) (*model.StoredFunction, error) {
	name := Name(ref)
	out, err := s.st.UpdateFunction(ctx, name, func(sf *model.StoredFunction) error {
		if sf.Tags == nil {
			sf.Tags = map[string]string{}
		}
		if err := fn(sf.Tags); err != nil {
			return err
		}
		if len(sf.Tags) == 0 {
			sf.Tags = nil
		}
		return nil
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, notFound(name)
	}
	return out, err
}

// Apply creates f or replaces the configuration of the function of its
// name (manifests); the action is created, configured or unchanged.
func (s *Service) Apply(ctx context.Context, f model.Function) (*model.StoredFunction, string, error) {
	f.Normalize()
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	sf, err := s.Create(ctx, f)
	if err == nil {
		return sf, "created", nil
	}
	if !errors.Is(err, model.ErrConflict) {
		return nil, "", err
	}
	old, err := s.Get(ctx, f.FunctionName)
	if err != nil {
		return nil, "", err
	}
	if sameFunction(old.Function, f) {
		return old, "unchanged", nil
	}
	sf, err = s.Update(ctx, f.FunctionName, func(cur *model.Function) error { *cur = f; return nil })
	return sf, "configured", err
}

func sameFunction(a, b model.Function) bool {
	return fmt.Sprintf("%+v|%+v|%+v|%v", a, a.Environment, a.DeadLetterConfig, deref(a.ReservedConcurrentExecutions)) ==
		fmt.Sprintf("%+v|%+v|%+v|%v", b, b.Environment, b.DeadLetterConfig, deref(b.ReservedConcurrentExecutions))
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// Delete removes a function and its pending Event invocations. Its event
// source mappings stay (as Lambda's do) and fail until it exists again.
func (s *Service) Delete(ctx context.Context, ref string) error {
	name := Name(ref)
	if err := s.st.DeleteFunction(ctx, name); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return notFound(name)
		}
		return err
	}
	s.log.Info("function deleted", "function", name)
	return nil
}

// lookup reads a function for an invocation: from the cache, falling back
// to etcd for one created a moment ago.
func (s *Service) lookup(ctx context.Context, name string) (*model.StoredFunction, error) {
	if f := s.fns.Get(name); f != nil {
		return f, nil
	}
	return s.Get(ctx, name)
}

// InvokeResult is what an invocation returns to its caller.
type InvokeResult struct {
	Result
	RequestID  string
	StatusCode int // 200 RequestResponse, 202 Event, 204 DryRun
}

// Invoke is the one entry point for invocations: the Lambda API, the
// queue event sources and topic subscriptions call it. RequestResponse
// runs the function and returns its answer (FunctionError set when the
// handler failed, timed out or crashed); Event stores the invocation
// durably and returns 202 (it is delivered at least once, retried twice,
// then sent to the function's DeadLetterConfig queue); DryRun only checks
// the function exists and the caller may invoke it. tail asks for the
// invocation's output (RequestResponse only).
func (s *Service) Invoke(ctx context.Context, ref string, payload []byte, typ string, tail bool) (InvokeResult, error) {
	name := Name(ref)
	fn, err := s.lookup(ctx, name)
	if err != nil {
		return InvokeResult{}, err
	}
	switch typ {
	case "", RequestResponse:
		if len(payload) > model.SyncMaxPayload {
			return InvokeResult{}, fmt.Errorf("%w: %d bytes exceeds the %d bytes a RequestResponse invocation accepts", ErrPayloadTooLarge, len(payload), model.SyncMaxPayload)
		}
		id := NewRequestID()
		r, err := s.call(ctx, fn, id, payload, tail)
		return InvokeResult{Result: r, RequestID: id, StatusCode: 200}, err
	case Event:
		if len(payload) > model.AsyncMaxPayload {
			return InvokeResult{}, fmt.Errorf("%w: %d bytes exceeds the %d bytes an Event invocation accepts", ErrPayloadTooLarge, len(payload), model.AsyncMaxPayload)
		}
		id, err := s.async.enqueue(ctx, name, payload)
		return InvokeResult{RequestID: id, StatusCode: 202}, err
	case DryRun:
		return InvokeResult{RequestID: NewRequestID(), StatusCode: 204}, nil
	default:
		return InvokeResult{}, fmt.Errorf("%w: InvocationType %q: use RequestResponse, Event or DryRun", model.ErrInvalid, typ)
	}
}

// InvokeEvent is the topics' hook for lambda subscriptions: an Event
// invocation of the function named by its ARN.
func (s *Service) InvokeEvent(ctx context.Context, functionArn string, payload []byte) error {
	_, err := s.Invoke(ctx, functionArn, payload, Event, false)
	return err
}

// call runs one invocation on an agent, bounded by the function's timeout
// plus the cold-start margin, and keeps its REPORT line and output. A
// function with reserved concurrency first takes a slot from the replica
// counting it (slots.go) and gives it back after.
func (s *Service) call(ctx context.Context, fn *model.StoredFunction, id string, payload []byte, tail bool) (Result, error) {
	var r Result
	release, err := s.acquire(ctx, fn)
	if err == nil {
		func() {
			// Deferred: a panic below (recovered by the HTTP server, the
			// process lives on) must not keep the slot until its expiry.
			defer release()
			cctx, cancel := context.WithTimeout(ctx, time.Duration(fn.Timeout)*time.Second+s.cfg.ColdStartMargin)
			defer cancel()
			r, err = s.hub.Call(cctx, Request{ID: id, Function: fn, Payload: payload, Tail: tail})
		}()
	}
	if errors.Is(err, ErrThrottled) {
		err = throttled(fn, err)
	}
	defer func() { s.meter.record(fn.FunctionName, fn.MemorySize, r, err) }()
	if errors.Is(err, ErrInit) {
		// As Lambda answers a failed init: the invocation failed, with
		// the reason as its error document.
		doc, _ := json.Marshal(map[string]string{"errorType": "Runtime.InitError", "errorMessage": err.Error()})
		r = Result{Payload: doc, FunctionError: "Unhandled", ErrorType: "Runtime.InitError", Logs: []byte(err.Error() + "\n")}
		err = nil
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w: no answer from node within the function's timeout plus %s", ErrAgentLost, s.cfg.ColdStartMargin)
		}
		s.logs.add(fn.FunctionName, fmt.Appendf(nil, "ERROR RequestId: %s %v\n", id, err))
		return r, err
	}
	// START, the output, END and REPORT, built in one buffer: the
	// function's log ring copies it, and the caller gets it for Tail.
	b := make([]byte, 0, 160+len(r.Logs)+len(r.Report))
	b = append(append(append(b, "START RequestId: "...), id...), " Version: $LATEST\n"...)
	if len(r.Logs) > 0 {
		b = append(b, r.Logs...)
		if r.Logs[len(r.Logs)-1] != '\n' {
			b = append(b, '\n')
		}
	}
	b = append(append(append(b, "END RequestId: "...), id...), '\n')
	if r.Report != "" {
		b = append(append(b, r.Report...), '\n')
	}
	r.Logs = b
	s.logs.add(fn.FunctionName, b)
	return r, nil
}

// Usage returns each function's metering on this server (invocations,
// errors, throttles, cold starts, billed GB-seconds, duration p50/p99).
func (s *Service) Usage() []Usage { return s.meter.usage() }

// Collectors are the functions' Prometheus metrics (for /metrics).
func (s *Service) Collectors() []prometheus.Collector { return s.meter.collectors() }

// Logs returns the function's recent log lines on this server: each
// invocation's START, END and REPORT lines and, for invocations asked with
// LogType Tail, their output.
func (s *Service) Logs(ref string) []byte { return s.logs.get(Name(ref)) }

// NewRequestID returns a Lambda-style request id (a UUID).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// logRing keeps the last 64 KB of log text per function. Each function's
// buffer holds up to twice that, so an invocation appends its lines
// without copying the buffer; only when it is full are the newest 64 KB
// moved to its front (once per 64 KB of logs, not once per invocation).
type logRing struct {
	mu sync.Mutex
	m  map[string][]byte
}

const logRingBytes = 64 << 10

func newLogRing() *logRing { return &logRing{m: map[string][]byte{}} }

func (l *logRing) add(fn string, text []byte) {
	if len(text) > logRingBytes {
		text = text[len(text)-logRingBytes:]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[fn]
	if len(b)+len(text) > 2*logRingBytes {
		keep := b[len(b)-(logRingBytes-len(text)):]
		n := copy(b, keep)
		b = b[:n]
	}
	if b == nil {
		b = make([]byte, 0, 2*logRingBytes)
	}
	l.m[fn] = append(b, text...)
}

func (l *logRing) forget(fn string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, fn)
}

// get returns the last 64 KB, from the start of a line.
func (l *logRing) get(fn string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[fn]
	if len(b) > logRingBytes {
		b = b[len(b)-logRingBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return append([]byte(nil), b...)
}
