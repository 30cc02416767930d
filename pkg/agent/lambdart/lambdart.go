// Package lambdart serves the AWS Lambda Runtime API (version 2018-06-01) to
// one function environment: the container's runtime (aws-lambda-go's
// lambda.Start, or any other Lambda runtime client) long-polls
// invocation/next, and posts each invocation's response or error back.
//
// One Env is one execution environment. It has its own listener and a
// random path token, so AWS_LAMBDA_RUNTIME_API ("host:port/token") lets a
// container take only its own environment's invocations: another
// container that finds the port does not know the token.
//
// Several invocations may be in flight in one environment at once (a
// runtime that honours AWS_LAMBDA_MAX_CONCURRENCY keeps that many
// invocation/next calls open); Invoke hands each invocation to whichever
// poll is waiting, and a deadline ends it as "Task timed out" whether or
// not the runtime ever answers.
package lambdart

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// APIVersion is the Runtime API version served.
const APIVersion = "2018-06-01"

// MaxPayload is the largest response or error body accepted from a runtime
// (Lambda's synchronous response limit, 6 MB).
const MaxPayload = 6 << 20

// Invocation is one call of the function.
type Invocation struct {
	ID              string    // Lambda-Runtime-Aws-Request-Id; generated when empty
	Payload         []byte    // the event
	Deadline        time.Time // Lambda-Runtime-Deadline-Ms
	FunctionARN     string    // Lambda-Runtime-Invoked-Function-Arn
	ClientContext   string    // Lambda-Runtime-Client-Context (JSON), optional
	CognitoIdentity string    // Lambda-Runtime-Cognito-Identity (JSON), optional
	TraceID         string    // Lambda-Runtime-Trace-Id, optional
	// Timeout is the function's configured timeout, which a timed-out
	// invocation's message names as Lambda's does ("Task timed out after
	// 3.00 seconds"); when zero the message gives the time it ran.
	Timeout time.Duration
}

// Result is how an invocation ended.
type Result struct {
	Payload []byte // the response, or the error document when FunctionError is set
	// FunctionError is "Unhandled" when the handler failed (returned an
	// error, panicked, timed out or the environment died); empty on success.
	FunctionError string
	ErrorType     string        // errorType of the error document, e.g. "Sandbox.Timedout"
	Duration      time.Duration // from hand-over to the runtime until the result
	TimedOut      bool          // the deadline passed before the runtime answered
}

// ErrorDoc is the error document Lambda returns and runtimes post.
type ErrorDoc struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType,omitempty"`
	StackTrace   []string `json:"stackTrace,omitempty"`
}

// Sentinel errors of Invoke.
var (
	// ErrClosed: the environment was closed (stopped, replaced, or its
	// runtime failed to initialise) before the invocation was handed over.
	ErrClosed = errors.New("lambdart: environment closed")
)

// Env is one execution environment's Runtime API endpoint.
type Env struct {
	token string
	ln    net.Listener

	queue chan *pending // invocations waiting for an invocation/next

	mu       sync.Mutex
	inflight map[string]*pending
	conns    map[net.Conn]struct{} // the runtime's connections, closed by Close
	initErr  *ErrorDoc
	closed   chan struct{}
	once     sync.Once
	// broken is closed when the environment must be replaced: an
	// invocation timed out, the runtime reported an init error, or Close.
	broken     chan struct{}
	brokenOnce sync.Once
	brokenWhy  string
	ready      chan struct{} // closed at the runtime's first invocation/next
	readyOnce  sync.Once
	// pollChecks counts waiting polls' checks of their connection (tests).
	pollChecks atomic.Int64
	// Copies of the package's readTimeout, pollCheck and drainTime.
	readTimeout, pollCheck, drainTime time.Duration
}

type pending struct {
	inv    Invocation
	start  time.Time
	done   chan Result
	closed bool // guarded by Env.mu; set once done was sent to
	// reading: a connection is reading a response or error body for it
	// up to MaxPayload (guarded by Env.mu; see bodyLimit).
	reading bool
}

// Listen opens an environment endpoint on addr ("127.0.0.1:0", or the
// Docker bridge's gateway address for containers) and starts serving.
func Listen(addr string) (*Env, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lambdart: listen %s: %w", addr, err)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		ln.Close()
		return nil, err
	}
	e := &Env{
		token:    hex.EncodeToString(b[:]),
		ln:       ln,
		queue:    make(chan *pending, 1024),
		inflight: make(map[string]*pending),
		conns:    make(map[net.Conn]struct{}),
		closed:   make(chan struct{}),
		broken:   make(chan struct{}),
		ready:    make(chan struct{}),

		readTimeout: readTimeout,
		pollCheck:   pollCheck,
		drainTime:   drainTime,
	}
	go e.serve()
	return e, nil
}

// Address is the value for AWS_LAMBDA_RUNTIME_API as seen from a process
// that reaches the listener at host (empty: the listener's own address).
func (e *Env) Address(host string) string {
	a := e.ln.Addr().(*net.TCPAddr)
	if host == "" {
		host = a.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port)) + "/" + e.token
}

// Port is the listener's TCP port.
func (e *Env) Port() int { return e.ln.Addr().(*net.TCPAddr).Port }

// Broken is closed once the environment must not take more invocations
// (a timeout, an init error, Close); Reason says why.
func (e *Env) Broken() <-chan struct{} { return e.broken }

// Reason says why the environment broke ("" while it is healthy).
func (e *Env) Reason() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.brokenWhy
}

func (e *Env) breakEnv(why string) {
	e.brokenOnce.Do(func() {
		e.mu.Lock()
		e.brokenWhy = why
		e.mu.Unlock()
		close(e.broken)
	})
}

// Close stops the listener and ends every invocation not yet answered with
// an error saying the environment stopped (reason).
func (e *Env) Close(reason string) {
	e.once.Do(func() {
		e.breakEnv(reason)
		close(e.closed)
		e.mu.Lock()
		for id, p := range e.inflight {
			delete(e.inflight, id)
			e.finishLocked(p, envFailed("Runtime.ExitError", "RequestId: "+p.inv.ID+" Error: the environment stopped: "+reason, p.start))
		}
		// Wake every connection's read (between requests, or in a body)
		// rather than cutting it: a waiting poll answers 410 and a post
		// being handled gets its answer, as net/http's Shutdown let them;
		// each connection's loop then sees closed and ends. Whatever is
		// left (a runtime not reading its answer) is cut after drainTime.
		for c := range e.conns {
			_ = c.SetReadDeadline(time.Unix(1, 0))
		}
		e.mu.Unlock()
		e.ln.Close()
		time.AfterFunc(e.drainTime, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			for c := range e.conns {
				c.Close()
			}
		})
	})
}

// finishLocked delivers r to p once. e.mu must be held.
func (e *Env) finishLocked(p *pending, r Result) bool {
	if p.closed {
		return false
	}
	p.closed = true
	p.done <- r
	return true
}

func envFailed(typ, msg string, start time.Time) Result {
	doc, _ := json.Marshal(ErrorDoc{ErrorMessage: msg, ErrorType: typ})
	var d time.Duration
	if !start.IsZero() {
		d = time.Since(start)
	}
	return Result{Payload: doc, FunctionError: "Unhandled", ErrorType: typ, Duration: d}
}

// Invoke hands inv to the runtime and waits for its result. It returns an
// error only when the invocation never reached the runtime (ErrClosed, or
// ctx ended while it waited); once handed over, every ending (response,
// handler error, timeout, environment stopped) is a Result. A timeout
// breaks the environment: Lambda replaces an environment whose invocation
// timed out, because the handler may still be running.
func (e *Env) Invoke(ctx context.Context, inv Invocation) (Result, error) {
	if inv.ID == "" {
		inv.ID = NewRequestID()
	}
	if inv.Deadline.IsZero() {
		inv.Deadline = time.Now().Add(3 * time.Second)
	}
	p := &pending{inv: inv, done: make(chan Result, 1)}
	select {
	case <-e.broken:
		return Result{}, ErrClosed
	default:
	}
	select {
	case e.queue <- p:
	case <-e.broken:
		return Result{}, ErrClosed
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	timer := time.NewTimer(time.Until(inv.Deadline))
	defer timer.Stop()
	select {
	case r := <-p.done:
		return r, nil
	case <-timer.C:
	case <-e.closed:
		// Close ends handed-over invocations (and respond the ones being
		// answered); one still queued never ran.
		e.mu.Lock()
		queued := p.start.IsZero() && !p.closed
		if queued {
			p.closed = true
		}
		e.mu.Unlock()
		if queued {
			return Result{}, ErrClosed
		}
		return <-p.done, nil
	}
	e.mu.Lock()
	delete(e.inflight, inv.ID)
	ok := !p.closed
	p.closed = true
	e.mu.Unlock()
	if !ok {
		return <-p.done, nil
	}
	if p.start.IsZero() {
		// Never handed over: the runtime did not poll in time (a cold
		// environment still starting, or every slot busy).
		e.breakEnv("invocation " + inv.ID + " was not picked up before its deadline")
		r := envFailed("Sandbox.Timedout", fmt.Sprintf("%s %s Task timed out after %s seconds", time.Now().UTC().Format(time.RFC3339Nano), inv.ID, secs(timedOutAfter(inv, inv.Deadline.Sub(time.Now())))), time.Time{})
		r.TimedOut = true
		return r, nil
	}
	e.breakEnv("invocation " + inv.ID + " timed out")
	r := envFailed("Sandbox.Timedout", fmt.Sprintf("%s %s Task timed out after %s seconds", time.Now().UTC().Format(time.RFC3339Nano), inv.ID, secs(timedOutAfter(inv, time.Since(p.start)))), p.start)
	r.TimedOut = true
	return r, nil
}

// timedOutAfter is the duration a timeout message names: the configured
// timeout when known (the time measured from the runtime's pick-up is a
// little less, since the deadline counts from the invocation's start).
func timedOutAfter(inv Invocation, measured time.Duration) time.Duration {
	if inv.Timeout > 0 {
		return inv.Timeout
	}
	return measured
}

func secs(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
}

// NewRequestID returns a random request id in the UUID form Lambda uses.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// handle routes /<token>/2018-06-01/runtime/... and answers.
func (e *Env) handle(x *exchange) {
	r := &x.req
	rest, ok := strings.CutPrefix(r.path, "/"+e.token+"/"+APIVersion+"/runtime/")
	if !ok {
		x.writeErr(http.StatusForbidden, "Forbidden", "unknown environment or API version: the runtime API address is AWS_LAMBDA_RUNTIME_API, version "+APIVersion)
		return
	}
	shown := strings.TrimPrefix(r.path, "/"+e.token)
	switch {
	case rest == "invocation/next" && r.method == http.MethodGet:
		e.next(x)
	case rest == "init/error" && r.method == http.MethodPost:
		e.initError(x)
	case strings.HasPrefix(rest, "invocation/") && r.method == http.MethodPost:
		id, what, _ := strings.Cut(strings.TrimPrefix(rest, "invocation/"), "/")
		switch what {
		case "response":
			e.respond(x, id, false)
		case "error":
			e.respond(x, id, true)
		default:
			x.writeErr(http.StatusNotFound, "NotFound", "unknown path "+shown)
		}
	default:
		x.writeErr(http.StatusNotFound, "NotFound", "unknown path or method "+r.method+" "+shown)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// Ready is closed when the runtime first asks for an invocation: its init
// is over (the end of a cold start).
func (e *Env) Ready() <-chan struct{} { return e.ready }

func (e *Env) next(x *exchange) {
	e.readyOnce.Do(func() { close(e.ready) })
	for {
		var p *pending
		select {
		case p = <-e.queue:
		case <-e.closed:
			x.writeErr(http.StatusGone, "EnvironmentClosed", "the environment is shutting down")
			return
		case <-x.pollTimer():
			e.pollChecks.Add(1)
			// No reader watches the connection while the poll waits (net/http's
			// background read and request context did): look now and then, so
			// that a runtime that left does not hold a goroutine and a
			// descriptor until the next invocation or the environment's end.
			if peerClosed(x.conn) {
				x.failed = true
				return
			}
			continue
		}
		if peerClosed(x.conn) {
			// The runtime went away while this poll waited: the
			// invocation goes to another poll (or, once the environment
			// closes, to another environment).
			e.requeue(p)
			x.failed = true
			return
		}
		e.mu.Lock()
		if p.closed { // timed out or cancelled while queued
			e.mu.Unlock()
			continue
		}
		select {
		case <-e.closed: // Close has swept inflight: leave p unstarted
			e.mu.Unlock()
			x.writeErr(http.StatusGone, "EnvironmentClosed", "the environment is shutting down")
			return
		default:
		}
		p.start = time.Now()
		e.inflight[p.inv.ID] = p
		e.mu.Unlock()
		rs := &x.resp
		rs.start(http.StatusOK)
		rs.header("Lambda-Runtime-Aws-Request-Id", p.inv.ID)
		rs.buf = append(rs.buf, "Lambda-Runtime-Deadline-Ms: "...)
		rs.buf = strconv.AppendInt(rs.buf, p.inv.Deadline.UnixMilli(), 10)
		rs.buf = append(rs.buf, "\r\n"...)
		if p.inv.FunctionARN != "" {
			rs.header("Lambda-Runtime-Invoked-Function-Arn", p.inv.FunctionARN)
		}
		if p.inv.TraceID != "" {
			rs.header("Lambda-Runtime-Trace-Id", p.inv.TraceID)
		}
		if p.inv.ClientContext != "" {
			rs.header("Lambda-Runtime-Client-Context", p.inv.ClientContext)
		}
		if p.inv.CognitoIdentity != "" {
			rs.header("Lambda-Runtime-Cognito-Identity", p.inv.CognitoIdentity)
		}
		rs.header("Content-Type", "application/json")
		x.write(p.inv.Payload)
		if x.failed {
			// The connection broke under the answer: it did not reach
			// the runtime, so the invocation goes back to the queue
			// unless it ended meanwhile.
			e.mu.Lock()
			requeue := !p.closed && e.inflight[p.inv.ID] == p
			if requeue {
				delete(e.inflight, p.inv.ID)
				p.start = time.Time{}
			}
			e.mu.Unlock()
			if requeue {
				e.requeue(p)
			}
		}
		return
	}
}

// requeue puts an invocation that never reached a runtime back in the
// queue. When the environment closes instead, Invoke finds it unstarted
// and answers ErrClosed (the pool then tries another environment).
func (e *Env) requeue(p *pending) {
	select {
	case e.queue <- p:
	case <-e.closed:
	}
}

// reportsPanic: the error document carries a stack trace (aws-lambda-go
// sends one only for a panic; other runtimes for any exception, where
// replacing the environment costs a cold start, not a result).
func reportsPanic(body []byte) bool {
	var probe struct {
		StackTrace []json.RawMessage `json:"stackTrace"`
	}
	return json.Unmarshal(body, &probe) == nil && len(probe.StackTrace) > 0
}

func (e *Env) respond(x *exchange, id string, isErr bool) {
	body := x.req.body
	e.mu.Lock()
	p, ok := e.inflight[id]
	if ok && x.req.tooLarge && x.req.limit < MaxPayload {
		// Its body was read only to smallBody because another connection
		// was reading one for this invocation: its size says nothing of
		// the response; the invocation stays for the other.
		e.mu.Unlock()
		x.writeErr(http.StatusConflict, "ResponseInProgress", "another connection is posting invocation "+id+"'s result")
		return
	}
	if ok {
		delete(e.inflight, id)
	}
	e.mu.Unlock()
	if !ok {
		x.writeErr(http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is in flight in this environment (answered already, timed out, or never sent)")
		return
	}
	var res Result
	switch {
	case x.req.tooLarge:
		res = envFailed("Function.ResponseSizeTooLarge", fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayload), p.start)
		x.writeErr(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the response is larger than 6 MB")
	case isErr:
		typ := x.req.errType
		var doc ErrorDoc
		if json.Unmarshal(body, &doc) == nil && doc.ErrorType != "" {
			typ = doc.ErrorType
		}
		if !json.Valid(body) {
			body, _ = json.Marshal(ErrorDoc{ErrorMessage: string(body), ErrorType: typ})
		}
		res = Result{Payload: body, FunctionError: "Unhandled", ErrorType: typ, Duration: time.Since(p.start)}
		if reportsPanic(body) {
			// aws-lambda-go sends a stack trace only for a panic, and its
			// process exits right after: take no more invocations here
			// (they go to another environment) instead of handing one to a
			// runtime about to die. Lambda replaces the environment too.
			e.breakEnv("the handler panicked (invocation " + id + ")")
		}
		x.resp.start(http.StatusAccepted)
		x.write(nil)
	default:
		res = Result{Payload: body, Duration: time.Since(p.start)}
		x.resp.start(http.StatusAccepted)
		x.write(nil)
	}
	e.mu.Lock()
	e.finishLocked(p, res)
	e.mu.Unlock()
}

func (e *Env) initError(x *exchange) {
	body := x.req.body
	if len(body) > 64<<10 {
		body = body[:64<<10]
	}
	var doc ErrorDoc
	if json.Unmarshal(body, &doc) != nil || doc.ErrorMessage == "" {
		doc = ErrorDoc{ErrorMessage: string(body)}
	}
	if doc.ErrorType == "" {
		doc.ErrorType = x.req.errType
	}
	e.mu.Lock()
	e.initErr = &doc
	e.mu.Unlock()
	x.resp.start(http.StatusAccepted)
	x.write(nil)
	e.breakEnv("init error: " + doc.ErrorType + ": " + doc.ErrorMessage)
}

// InitError is the error the runtime reported through init/error, if any.
func (e *Env) InitError() *ErrorDoc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.initErr
}
