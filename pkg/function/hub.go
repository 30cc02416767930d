package function

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// Routing errors (mapped to Lambda's codes by pkg/api/lambda).
var (
	// ErrThrottled: the function runs as many invocations as its reserved
	// concurrency (or the per-function limit) allows.
	ErrThrottled = errors.New("function: rate exceeded")
	// ErrNoAgents: no agent that runs functions is connected.
	ErrNoAgents = errors.New("function: no agent is connected to run functions")
	// ErrAgentLost: the agent running the invocation went away before it
	// answered; the handler may or may not have run.
	ErrAgentLost = errors.New("function: the agent running the invocation went away")
	// ErrAgentStopping: the agent is stopping and did not run the
	// invocation; Call places it again on another agent.
	ErrAgentStopping = errors.New("function: the agent is stopping and did not run the invocation")
	// ErrBadFrame: the agent could not read the invocation it was sent
	// (a malformed line on its stream); the handler did not run.
	ErrBadFrame = errors.New("function: the agent could not read the invocation it was sent")
	// ErrInit: the function's environment failed to start or initialise
	// (a missing image, a runtime that exits during init).
	ErrInit = errors.New("function: the environment failed to initialise")
)

// DefaultConcurrencyLimit caps a function without reserved concurrency
// (Lambda's default account concurrency).
const DefaultConcurrencyLimit = 1000

// Request is an invocation on its way to an agent.
type Request struct {
	ID       string
	Function *model.StoredFunction
	Payload  []byte
	Tail     bool // return the invocation's output (LogType Tail)
	// Deleted, when set, makes this no invocation but the news that the
	// named function was deleted (agents stop its environments).
	Deleted string
}

// Result is an agent's answer.
type Result struct {
	Payload       []byte
	FunctionError string // "" on success, else Unhandled (Lambda's X-Amz-Function-Error)
	ErrorType     string
	Duration      time.Duration
	InitDuration  time.Duration
	Report        string // the REPORT line
	MaxMemoryMiB  int    // the environment's peak memory so far (0: unknown)
	Environments  int    // the function's environments on the agent after it
	Logs          []byte
	Node          string
}

// Conn is one agent's invocation stream. The agent's connection handler
// sends Requests() to the agent and calls Hub.Complete with the answers.
type Conn struct {
	node     string
	reqs     chan Request
	done     chan struct{}
	inflight map[string]int // by function
	memMiB   int            // memory of the invocations in flight
	// stopping: the agent refused an invocation because it is stopping
	// (it drains what it runs); no more are placed on it.
	stopping bool
}

// Requests are the invocations to send to the agent.
func (c *Conn) Requests() <-chan Request { return c.reqs }

// Node is the agent's node name.
func (c *Conn) Node() string { return c.node }

type call struct {
	conn *Conn
	fn   string
	mem  int
	done chan outcome // one answer: a result or an error
}

type outcome struct {
	r   Result
	err error
}

// Hub routes invocations to the agents connected to this server. Placement
// is simple: a function stays on the agents where it ran recently (its
// environments are warm there) until one of them runs SpreadAt of its
// invocations at once; then the agent with the most free memory takes the
// next ones, which warms it in turn.
type Hub struct {
	// FreeMemory is a node's memory in MiB not reserved by tasks (nil:
	// every agent counts as equally free).
	FreeMemory func(node string) int
	// WarmFor is how long an agent counts as warm for a function after an
	// invocation (the agents' idle timeout).
	WarmFor time.Duration
	// SpreadAt is the in-flight invocations of one function on one agent
	// beyond which the next invocation goes to another agent.
	SpreadAt int

	mu         sync.Mutex
	agents     map[string]*Conn
	calls      map[string]*call
	fnInflight map[string]int
	warm       map[string]map[string]time.Time // function -> node -> last dispatch
	envs       map[string]map[string]envCount  // function -> node -> last reported environments
}

// envCount is the environments an agent reported with an answer.
type envCount struct {
	n  int
	at time.Time
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{WarmFor: 5 * time.Minute, SpreadAt: 16, agents: map[string]*Conn{}, calls: map[string]*call{},
		fnInflight: map[string]int{}, warm: map[string]map[string]time.Time{}, envs: map[string]map[string]envCount{}}
}

// Attach registers an agent's stream; an earlier stream of the same node
// is detached (its calls fail with ErrAgentLost).
func (h *Hub) Attach(node string) *Conn {
	c := &Conn{node: node, reqs: make(chan Request, 4096), done: make(chan struct{}), inflight: map[string]int{}}
	h.mu.Lock()
	old := h.agents[node]
	h.agents[node] = c
	h.mu.Unlock()
	if old != nil {
		h.Detach(old)
	}
	return c
}

// Detach removes the agent's stream: the invocations it was running fail
// with ErrAgentLost.
func (h *Hub) Detach(c *Conn) {
	h.mu.Lock()
	if h.agents[c.node] == c {
		delete(h.agents, c.node)
	}
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	for fn, nodes := range h.warm {
		delete(nodes, c.node)
		if len(nodes) == 0 {
			delete(h.warm, fn)
		}
	}
	for fn, nodes := range h.envs {
		delete(nodes, c.node)
		if len(nodes) == 0 {
			delete(h.envs, fn)
		}
	}
	h.mu.Unlock()
}

// Forget tells every connected agent that fn was deleted, so that its
// warm environments stop now instead of at the idle timeout. An agent
// whose stream is full misses the news and stops them when idle.
func (h *Hub) Forget(fn string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.warm, fn)
	delete(h.envs, fn)
	for _, c := range h.agents {
		select {
		case c.reqs <- Request{Deleted: fn}:
		default:
		}
	}
}

// Agents is the number of connected agents (stopping ones included).
func (h *Hub) Agents() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.agents)
}

// Inflight is the function's invocations in flight on this server.
func (h *Hub) Inflight(fn string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fnInflight[fn]
}

// Environments is how many environments the function has warm on the
// attached agents, as each reported with its last answer through this
// server. A report older than WarmFor (the agents' idle timeout) counts
// as none: those environments have stopped since.
func (h *Hub) Environments(fn string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.envs[fn] {
		if time.Since(e.at) < h.WarmFor {
			n += e.n
		}
	}
	return n
}

// Complete delivers an agent's answer; false when no such invocation waits
// on that agent (it timed out, or the agent answers twice).
func (h *Hub) Complete(node, id string, r Result) bool {
	h.mu.Lock()
	c, ok := h.calls[id]
	if !ok || c.conn.node != node {
		h.mu.Unlock()
		return false
	}
	h.release(id, c)
	nodes := h.envs[c.fn]
	if nodes == nil {
		nodes = map[string]envCount{}
		h.envs[c.fn] = nodes
	}
	nodes[node] = envCount{n: r.Environments, at: time.Now()}
	h.mu.Unlock()
	r.Node = node
	c.done <- outcome{r: r}
	return true
}

// Fail ends an invocation with an error the agent reported.
func (h *Hub) Fail(node, id string, err error) bool {
	h.mu.Lock()
	c, ok := h.calls[id]
	if !ok || c.conn.node != node {
		h.mu.Unlock()
		return false
	}
	h.release(id, c)
	h.mu.Unlock()
	c.done <- outcome{err: err}
	return true
}

// release forgets a call; h.mu is held.
func (h *Hub) release(id string, c *call) {
	delete(h.calls, id)
	h.fnInflight[c.fn]--
	if h.fnInflight[c.fn] <= 0 {
		delete(h.fnInflight, c.fn)
	}
	c.conn.inflight[c.fn]--
	if c.conn.inflight[c.fn] <= 0 {
		delete(c.conn.inflight, c.fn)
	}
	c.conn.memMiB -= c.mem
}

// Stopping ends an invocation the agent refused because it is stopping
// (it did not run): the agent takes no more, and Call places the
// invocation on another agent.
func (h *Hub) Stopping(node, id string) bool {
	h.mu.Lock()
	if c, ok := h.calls[id]; ok && c.conn.node == node {
		c.conn.stopping = true
	}
	h.mu.Unlock()
	return h.Fail(node, id, fmt.Errorf("%w: node %s", ErrAgentStopping, node))
}

// Call runs one invocation on an agent and waits for its answer. The
// caller's ctx bounds the wait (give it the function's timeout and a
// margin for a cold start). An invocation a stopping agent refused is
// placed again (it did not run), until no agent is left.
func (h *Hub) Call(ctx context.Context, req Request) (Result, error) {
	for {
		r, err := h.call(ctx, req)
		if !errors.Is(err, ErrAgentStopping) || ctx.Err() != nil {
			return r, err
		}
	}
}

func (h *Hub) call(ctx context.Context, req Request) (Result, error) {
	fn := req.Function
	limit := DefaultConcurrencyLimit
	if fn.ReservedConcurrentExecutions != nil {
		limit = *fn.ReservedConcurrentExecutions
	}
	h.mu.Lock()
	if h.fnInflight[fn.FunctionName] >= limit {
		h.mu.Unlock()
		return Result{}, fmt.Errorf("%w: function %s runs %d invocations, its concurrency limit", ErrThrottled, fn.FunctionName, limit)
	}
	conn := h.pick(fn)
	if conn == nil {
		h.mu.Unlock()
		return Result{}, ErrNoAgents
	}
	c := &call{conn: conn, fn: fn.FunctionName, mem: fn.MemorySize, done: make(chan outcome, 1)}
	h.calls[req.ID] = c
	h.fnInflight[fn.FunctionName]++
	conn.inflight[fn.FunctionName]++
	conn.memMiB += fn.MemorySize
	if h.warm[fn.FunctionName] == nil {
		h.warm[fn.FunctionName] = map[string]time.Time{}
	}
	h.warm[fn.FunctionName][conn.node] = time.Now()
	h.mu.Unlock()

	abandon := func() {
		h.mu.Lock()
		if h.calls[req.ID] == c {
			h.release(req.ID, c)
		}
		h.mu.Unlock()
	}
	select {
	case conn.reqs <- req:
	case <-conn.done:
		abandon()
		return Result{}, fmt.Errorf("%w: node %s", ErrAgentLost, conn.node)
	case <-ctx.Done():
		abandon()
		return Result{}, ctx.Err()
	}
	select {
	case o := <-c.done:
		return o.r, o.err
	case <-conn.done:
		abandon()
		return Result{}, fmt.Errorf("%w: node %s lost its connection during the invocation", ErrAgentLost, conn.node)
	case <-ctx.Done():
		abandon()
		return Result{}, ctx.Err()
	}
}

// pick chooses the agent for one invocation of fn; h.mu is held.
func (h *Hub) pick(fn *model.StoredFunction) *Conn {
	if len(h.agents) == 0 {
		return nil
	}
	now := time.Now()
	// Warm agents first: the least busy with this function, while under
	// SpreadAt.
	var best *Conn
	for node, last := range h.warm[fn.FunctionName] {
		c := h.agents[node]
		if c == nil || c.stopping || now.Sub(last) > h.WarmFor {
			continue
		}
		if best == nil || c.inflight[fn.FunctionName] < best.inflight[fn.FunctionName] {
			best = c
		}
	}
	if best != nil && best.inflight[fn.FunctionName] < h.SpreadAt {
		return best
	}
	// Otherwise the agent with the most free memory among those under
	// SpreadAt for fn (all of them if none is), ties to the one running
	// fewer invocations of fn, in a stable order.
	nodes := make([]string, 0, len(h.agents))
	for n, c := range h.agents {
		if !c.stopping && c.inflight[fn.FunctionName] < h.SpreadAt {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		for n, c := range h.agents {
			if !c.stopping {
				nodes = append(nodes, n)
			}
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	sort.Strings(nodes)
	var pick *Conn
	pickFree := 0
	for _, n := range nodes {
		c := h.agents[n]
		free := -c.memMiB
		if h.FreeMemory != nil {
			free += h.FreeMemory(n)
		}
		if pick == nil || free > pickFree || free == pickFree && c.inflight[fn.FunctionName] < pick.inflight[fn.FunctionName] {
			pick, pickFree = c, free
		}
	}
	if best != nil && pick != best && pickFree < fn.MemorySize {
		return best // no room elsewhere: queue on the warm one
	}
	return pick
}
