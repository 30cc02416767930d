// Package client is the Go client of Orch's /v1 API, used by the orch CLI
// and by agents (it implements agent.ControlPlane).
//
// Example:
//
//	c := client.New(client.Config{Servers: []string{"http://127.0.0.1:7474"}, Token: tok})
//	tasks, err := c.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web", Count: 2})
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
)

// Config says which servers to talk to and with which token.
type Config struct {
	// Servers are base URLs; requests fail over between them.
	Servers []string
	Token   string
	// Timeout bounds ordinary requests (not streams). Default 30 s.
	Timeout time.Duration
	// Identity is the host key an agent registers with (see
	// agent.LoadOrCreateIdentity): the server binds the node name to it.
	// Nil: a fresh key for this client and its clones, which is right for
	// tests and hollow nodes, not for an agent that restarts.
	Identity ed25519.PrivateKey
	// TLS trusts the servers' certificates: pki.ClientTLS with the
	// cluster CA (the CLI's config carries it), or pki.PinnedTLS for an
	// agent given a join token. nil: the system roots.
	TLS *tls.Config
}

// Client talks to one or more orch servers.
type Client struct {
	cfg     Config
	http    *http.Client
	stream  *http.Client
	mu      sync.Mutex
	current int
	// nodeToken, once an agent registered, authenticates its node's calls;
	// the configured (join) token keeps serving registration.
	nodeToken string
	// parent, for a client of PerServer, holds the tokens (its
	// registration) this one uses.
	parent *Client
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Identity == nil {
		_, cfg.Identity, _ = ed25519.GenerateKey(nil)
	}
	for i, s := range cfg.Servers {
		s = strings.TrimRight(s, "/")
		if !strings.Contains(s, "://") {
			if cfg.TLS != nil {
				s = "https://" + s
			} else {
				s = "http://" + s
			}
		}
		cfg.Servers[i] = s
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &Client{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}, stream: &http.Client{Transport: tr}}
}

// Clone returns a client with the same servers and token but its own
// registration (node token): one per agent when several share a config.
func (c *Client) Clone() *Client {
	cfg := c.cfg
	cfg.Servers = append([]string(nil), c.cfg.Servers...)
	return &Client{cfg: cfg, http: c.http, stream: c.stream}
}

// PerServer returns a client per configured server, without failover,
// using this client's tokens (its node token once registered). An agent
// attaches its function invocation stream to every replica through them.
func (c *Client) PerServer() []*Client {
	out := make([]*Client, 0, len(c.cfg.Servers))
	for _, s := range c.cfg.Servers {
		cfg := c.cfg
		cfg.Servers = []string{s}
		out = append(out, &Client{cfg: cfg, http: c.http, stream: c.stream, parent: c})
	}
	return out
}

// Error is an API error response.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
	}
	return e.Message
}

// Unwrap maps statuses to the wire sentinels agents act on.
func (e *Error) Unwrap() error {
	switch {
	case e.Code == "UnknownNode":
		return wire.ErrUnknownNode
	case e.Code == "NodeNameTaken":
		return wire.ErrNodeNameTaken
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return wire.ErrUnauthorized
	}
	return nil
}

func (c *Client) server(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Servers[(c.current+i)%len(c.cfg.Servers)]
}

func (c *Client) prefer(i int) {
	c.mu.Lock()
	c.current = (c.current + i) % len(c.cfg.Servers)
	c.mu.Unlock()
}

// Do sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to discard). Connection failures fail over to the
// next server; API errors do not.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, c.http, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Stream sends a request and returns the open response body for reading.
func (c *Client) Stream(ctx context.Context, method, path string, body any) (io.ReadCloser, error) {
	resp, err := c.send(ctx, c.stream, method, path, body)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, body any) (*http.Response, error) {
	if len(c.cfg.Servers) == 0 {
		return nil, errors.New("no orch server configured: pass --server, set ORCH_SERVER, or run orch dev / orch server to write a config file")
	}
	var payload []byte
	if raw, ok := body.(rawJSON); ok {
		payload = raw
	} else if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for i, throttled := 0, 0; i < len(c.cfg.Servers); i++ {
		base := c.server(i)
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return nil, err
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if tok := c.tokenFor(path); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = fmt.Errorf("cannot reach orch server %s: %w", base, err)
			continue
		}
		if resp.StatusCode == http.StatusTooManyRequests && throttled < maxThrottledRetries {
			// The server is at its limit of requests in flight: wait
			// as it asks and try the same server again.
			resp.Body.Close()
			throttled++
			if err := sleepCtx(ctx, retryAfter(resp, throttled)); err != nil {
				return nil, err
			}
			i--
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable && i+1 < len(c.cfg.Servers) {
			resp.Body.Close()
			lastErr = fmt.Errorf("orch server %s is not ready", base)
			continue
		}
		if i > 0 {
			c.prefer(i)
		}
		if resp.StatusCode >= 400 {
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			var we wire.Error
			if json.Unmarshal(b, &we) != nil || we.Message == "" {
				we.Message = strings.TrimSpace(string(b))
			}
			return nil, &Error{Status: resp.StatusCode, Code: we.Code, Message: we.Message}
		}
		return resp, nil
	}
	return nil, lastErr
}

// tokenFor picks the token for a request: the node token for a
// registered node's own endpoints, the configured token otherwise.
func (c *Client) tokenFor(path string) string {
	if c.parent != nil {
		return c.parent.tokenFor(path)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodeToken != "" && strings.HasPrefix(path, "/v1/agent/nodes/") {
		return c.nodeToken
	}
	return c.cfg.Token
}

// ---- agent protocol (agent.ControlPlane)

// Register joins the cluster with the configured (join) token; the node
// token it returns authenticates the node's later calls.
// It proves the host's identity: it fetches a single-use nonce and signs it,
// with the node name, with Config.Identity.
func (c *Client) Register(ctx context.Context, req wire.RegisterRequest) (wire.RegisterResponse, error) {
	var out wire.RegisterResponse
	var nonce wire.NonceResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agent/nonce", nil, &nonce); err != nil {
		return out, err
	}
	req.Nonce = nonce.Nonce
	req.PublicKey, req.Signature = auth.SignNodeProof(c.cfg.Identity, nonce.Nonce, req.Name)
	err := c.Do(ctx, http.MethodPost, "/v1/agent/register", req, &out)
	if err == nil && out.NodeToken != "" {
		c.mu.Lock()
		c.nodeToken = out.NodeToken
		c.mu.Unlock()
	}
	return out, err
}

// Heartbeat keeps the node alive.
func (c *Client) Heartbeat(ctx context.Context, node string) error {
	return c.Do(ctx, http.MethodPost, "/v1/agent/nodes/"+node+"/heartbeat", nil, nil)
}

// RenewNodeCert asks for a new certificate for node's log server, for
// its serving key (PEM chain; a TLS cluster only).
func (c *Client) RenewNodeCert(ctx context.Context, node, servingKey string) (string, error) {
	var out wire.NodeCertResponse
	err := c.Do(ctx, http.MethodPost, "/v1/agent/nodes/"+node+"/certificate", wire.NodeCertRequest{ServingKey: servingKey}, &out)
	return out.NodeCert, err
}

// ReportStatus sends observed task states.
func (c *Client) ReportStatus(ctx context.Context, node string, reports []wire.TaskStatusReport) error {
	return c.Do(ctx, http.MethodPost, "/v1/agent/nodes/"+node+"/status", wire.StatusBatch{Reports: reports}, nil)
}

// streamIdle is how long an agent's stream (assignments, invocations) may stay silent (the server
// pings every 15 s) before the agent treats it as broken (a variable for
// tests).
var streamIdle = 45 * time.Second

// Assignments streams the node's assignments until ctx ends or the
// connection breaks (or stays silent streamIdle); pings are dropped.
func (c *Client) Assignments(ctx context.Context, node string) (<-chan wire.AssignmentEvent, <-chan error) {
	return streamEvents(c, ctx, "/v1/agent/nodes/"+node+"/assignments", 64, 64<<20, "assignment", nil, nil,
		func(ev wire.AssignmentEvent) bool { return ev.Type == wire.EventPing })
}

// streamEvents reads an NDJSON stream of T from path into a channel until
// ctx ends, the connection breaks, or nothing (not even a ping) arrives
// for streamIdle; the error channel then says why. skip drops events the
// caller need not see (nil: none). what names the stream in errors.
// decode turns a line into an event (nil: json.Unmarshal). bad, when not
// nil, turns a line that decode refused or that is over maxLine into an
// event (see followStream); nil: such a line ends the stream.
func streamEvents[T any](c *Client, ctx context.Context, path string, buffered, maxLine int, what string, decode func([]byte, *T) error, bad func(badLine) T, skip func(T) bool) (<-chan T, <-chan error) {
	events := make(chan T, buffered)
	errc := make(chan error, 1)
	go func() {
		defer close(events)
		errc <- followStream(c, ctx, path, maxLine, what, decode, bad, skip, func(ev T) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return events, errc
}

// followStream reads an NDJSON stream of T from path and calls handle with
// each event in the calling goroutine (no hand-off to another one), until
// ctx ends, the connection breaks, or nothing (not even a ping) arrives
// for streamIdle, and says why; an error handle returns ends it and is
// returned as it is. skip, what, decode and bad as for streamEvents: a
// line that cannot be decoded or is over maxLine ends the stream unless
// bad turns it into an event for handle, and then the stream goes on.
func followStream[T any](c *Client, ctx context.Context, path string, maxLine int, what string, decode func([]byte, *T) error, bad func(badLine) T, skip func(T) bool, handle func(T) error) error {
	if decode == nil {
		decode = func(b []byte, ev *T) error { return json.Unmarshal(b, ev) }
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A watchdog cancels the stream when nothing arrives for too long. A
	// line only stores when it came (monotonic time since start), so the
	// watchdog wakes once per streamIdle, not once per line: waking it for
	// every line cost a goroutine switch per invocation on a busy stream.
	// It starts before the request: the stream's HTTP client has no
	// timeout, and a server that never answers (a hung process, a
	// half-open connection the transport reused) counts as silent too.
	idle := streamIdle // read once, here: a test changes it between streams
	silent := func() error { return fmt.Errorf("%s stream silent for %s", what, idle) }
	start := time.Now()
	var last atomic.Int64 // time.Since(start) of the last line
	go func() {
		t := time.NewTimer(idle)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if quiet := time.Since(start) - time.Duration(last.Load()); quiet < idle {
					t.Reset(idle - quiet)
					continue
				}
				cancel()
				return
			}
		}
	}()
	body, err := c.Stream(sctx, http.MethodGet, path, nil)
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			err = silent()
		}
		return err
	}
	defer body.Close()
	lines := lineReader{r: bufio.NewReaderSize(body, 64<<10), max: maxLine}
	for {
		line, n, rerr := lines.next()
		if rerr != nil {
			err = rerr
			break
		}
		last.Store(int64(time.Since(start)))
		var ev T
		var why error
		if n > maxLine {
			why = fmt.Errorf("a line of %d bytes, over the %d byte limit", n, maxLine)
		} else if err := decode(line, &ev); err != nil {
			why = err
		}
		if why != nil {
			if bad == nil {
				return fmt.Errorf("bad %s event: %w", what, why)
			}
			ev = bad(badLine{Start: line, Size: n, TooLong: n > maxLine, Err: why})
		}
		if skip != nil && skip(ev) {
			continue
		}
		if err := handle(ev); err != nil {
			return err
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if sctx.Err() != nil && ctx.Err() == nil {
		err = silent()
	}
	return fmt.Errorf("%s stream ended: %w", what, err)
}

// badLine is a line of an agent's stream that could not be taken as an
// event: Start is its beginning (all of it unless TooLong: then its first
// badLineKeep bytes), Size its length, Err why.
type badLine struct {
	Start   []byte
	Size    int
	TooLong bool
	Err     error
}

// badLineKeep is how much of a line over the limit is kept: enough for
// the fields a server writes first (an invocation's id).
const badLineKeep = 4 << 10

// lineReader reads a stream's newline-terminated lines. A line over max
// bytes is read to its end (the stream goes on after it) but only its
// first badLineKeep bytes are kept. Unlike bufio.Scanner, a long line is
// therefore not the end of the stream.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte // a line longer than r's buffer is gathered here
}

// next returns the next line without its line end (valid until the next
// call) and its length; a line over max is cut to badLineKeep bytes. A
// last line without a newline (the connection broke in it) is an error.
func (lr *lineReader) next() ([]byte, int, error) {
	lr.buf = lr.buf[:0]
	n := 0 // the line's bytes so far
	for {
		frag, err := lr.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return nil, n + len(frag), err
		}
		if n == 0 && err == nil && len(frag)-1 <= lr.max {
			return trimLineEnd(frag), len(frag) - 1, nil // all in the reader's buffer: no copy
		}
		n += len(frag)
		size := n // without the newline
		if err == nil {
			size--
		}
		lr.buf = append(lr.buf, frag...)
		if size > lr.max && len(lr.buf) > badLineKeep {
			lr.buf = lr.buf[:badLineKeep] // over the limit: its start is enough
		}
		if err == nil {
			return trimLineEnd(lr.buf), size, nil
		}
	}
}

// trimLineEnd drops a line's "\n" or "\r\n".
func trimLineEnd(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// maxThrottledRetries is how often one call waits out a 429.
const maxThrottledRetries = 8

// retryAfter is the server's Retry-After (seconds, at most 5), with the
// nth retry's jitter so throttled clients do not come back in step.
func retryAfter(resp *http.Response, n int) time.Duration {
	d := time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		d = time.Duration(min(s, 5)) * time.Second
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) + time.Duration(n)*50*time.Millisecond
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TaskCredentials mints a task's AWS credentials (its task role's); the
// agent serves them to the task's containers.
func (c *Client) TaskCredentials(ctx context.Context, node, taskID string) (wire.TaskCredentials, error) {
	var out wire.TaskCredentials
	err := c.Do(ctx, http.MethodPost, "/v1/agent/nodes/"+node+"/tasks/"+taskID+"/credentials", nil, &out)
	return out, err
}
