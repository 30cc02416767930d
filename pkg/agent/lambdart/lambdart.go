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
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	srv   *http.Server

	queue chan *pending // invocations waiting for an invocation/next

	mu       sync.Mutex
	inflight map[string]*pending
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
}

type pending struct {
	inv    Invocation
	start  time.Time
	done   chan Result
	closed bool // guarded by Env.mu; set once done was sent to
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
		closed:   make(chan struct{}),
		broken:   make(chan struct{}),
		ready:    make(chan struct{}),
	}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
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
		e.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = e.srv.Shutdown(ctx)
		e.srv.Close()
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
		r := envFailed("Sandbox.Timedout", fmt.Sprintf("%s %s Task timed out after %s seconds", time.Now().UTC().Format(time.RFC3339Nano), inv.ID, secs(inv.Deadline.Sub(time.Now()))), time.Time{})
		r.TimedOut = true
		return r, nil
	}
	e.breakEnv("invocation " + inv.ID + " timed out")
	r := envFailed("Sandbox.Timedout", fmt.Sprintf("%s %s Task timed out after %s seconds", time.Now().UTC().Format(time.RFC3339Nano), inv.ID, secs(time.Since(p.start))), p.start)
	r.TimedOut = true
	return r, nil
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

// ServeHTTP routes /<token>/2018-06-01/runtime/...
func (e *Env) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+e.token+"/"+APIVersion+"/runtime/")
	if !ok {
		writeErr(w, http.StatusForbidden, "Forbidden", "unknown environment or API version: the runtime API address is AWS_LAMBDA_RUNTIME_API, version "+APIVersion)
		return
	}
	switch {
	case rest == "invocation/next" && r.Method == http.MethodGet:
		e.next(w, r)
	case rest == "init/error" && r.Method == http.MethodPost:
		e.initError(w, r)
	case strings.HasPrefix(rest, "invocation/") && r.Method == http.MethodPost:
		id, what, _ := strings.Cut(strings.TrimPrefix(rest, "invocation/"), "/")
		switch what {
		case "response":
			e.respond(w, r, id, false)
		case "error":
			e.respond(w, r, id, true)
		default:
			writeErr(w, http.StatusNotFound, "NotFound", "unknown path "+r.URL.Path[len(e.token)+1:])
		}
	default:
		writeErr(w, http.StatusNotFound, "NotFound", "unknown path or method "+r.Method+" "+r.URL.Path[len(e.token)+1:])
	}
}

func writeErr(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ErrorDoc{ErrorMessage: msg, ErrorType: typ})
}

// Ready is closed when the runtime first asks for an invocation: its init
// is over (the end of a cold start).
func (e *Env) Ready() <-chan struct{} { return e.ready }

func (e *Env) next(w http.ResponseWriter, r *http.Request) {
	e.readyOnce.Do(func() { close(e.ready) })
	for {
		var p *pending
		select {
		case p = <-e.queue:
		case <-e.closed:
			writeErr(w, http.StatusGone, "EnvironmentClosed", "the environment is shutting down")
			return
		case <-r.Context().Done():
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
			writeErr(w, http.StatusGone, "EnvironmentClosed", "the environment is shutting down")
			return
		default:
		}
		p.start = time.Now()
		e.inflight[p.inv.ID] = p
		e.mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", p.inv.ID)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(p.inv.Deadline.UnixMilli(), 10))
		if p.inv.FunctionARN != "" {
			h.Set("Lambda-Runtime-Invoked-Function-Arn", p.inv.FunctionARN)
		}
		if p.inv.TraceID != "" {
			h.Set("Lambda-Runtime-Trace-Id", p.inv.TraceID)
		}
		if p.inv.ClientContext != "" {
			h.Set("Lambda-Runtime-Client-Context", p.inv.ClientContext)
		}
		if p.inv.CognitoIdentity != "" {
			h.Set("Lambda-Runtime-Cognito-Identity", p.inv.CognitoIdentity)
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(p.inv.Payload)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(p.inv.Payload)
		return
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

func (e *Env) respond(w http.ResponseWriter, r *http.Request, id string, isErr bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidRequest", "reading the body: "+err.Error())
		return
	}
	e.mu.Lock()
	p, ok := e.inflight[id]
	if ok {
		delete(e.inflight, id)
	}
	e.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is in flight in this environment (answered already, timed out, or never sent)")
		return
	}
	var res Result
	switch {
	case len(body) > MaxPayload:
		res = envFailed("Function.ResponseSizeTooLarge", fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayload), p.start)
		writeErr(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the response is larger than 6 MB")
	case isErr:
		typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
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
		w.WriteHeader(http.StatusAccepted)
	default:
		res = Result{Payload: body, Duration: time.Since(p.start)}
		w.WriteHeader(http.StatusAccepted)
	}
	e.mu.Lock()
	e.finishLocked(p, res)
	e.mu.Unlock()
}

func (e *Env) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var doc ErrorDoc
	if json.Unmarshal(body, &doc) != nil || doc.ErrorMessage == "" {
		doc = ErrorDoc{ErrorMessage: string(body)}
	}
	if doc.ErrorType == "" {
		doc.ErrorType = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	e.mu.Lock()
	e.initErr = &doc
	e.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	e.breakEnv("init error: " + doc.ErrorType + ": " + doc.ErrorMessage)
}

// InitError is the error the runtime reported through init/error, if any.
func (e *Env) InitError() *ErrorDoc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.initErr
}
