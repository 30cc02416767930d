package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/pkg/api/wire"
)

// ---- agent side of function invocations (agent.FunctionControlPlane)

// Invocations streams the invocations the server routes to the node until
// ctx ends or the connection breaks (or stays silent streamIdle).
func (c *Client) Invocations(ctx context.Context, node string) (<-chan wire.InvocationEvent, <-chan error) {
	var d invocationDecoder
	return streamEvents(c, ctx, invocationsPath(node), 256, wire.MaxInvocationLine, "invocation", d.decode, unreadableInvocation, nil)
}

// FollowInvocations is Invocations without the channel: handle gets each
// event in the goroutine reading the stream (agent.InvocationFollower),
// until ctx ends, the connection breaks (or stays silent streamIdle) or
// handle returns an error (returned as it is). A line that cannot be
// read (malformed, or over wire.MaxInvocationLine) does not end the
// stream: handle gets it as an event with Unreadable set (and RequestID
// when the line names one).
func (c *Client) FollowInvocations(ctx context.Context, node string, handle func(wire.InvocationEvent) error) error {
	var d invocationDecoder
	return followStream(c, ctx, invocationsPath(node), wire.MaxInvocationLine, "invocation", d.decode, unreadableInvocation, nil, handle)
}

// unreadableInvocation is the event for a line the stream could not
// decode, with the invocation's id when the line's start has one: servers
// write it right after the type, so it is there even in a line cut to its
// first bytes. The reason never quotes the line (it holds the payload).
func unreadableInvocation(l badLine) wire.InvocationEvent {
	why := l.Err.Error()
	if !l.TooLong {
		why = fmt.Sprintf("a malformed line of %d bytes: %v", l.Size, l.Err)
		var se *json.SyntaxError
		if errors.As(l.Err, &se) {
			// Its message may quote the payload's bytes.
			why = fmt.Sprintf("a malformed line of %d bytes: invalid JSON at byte %d", l.Size, se.Offset)
		}
	}
	return wire.InvocationEvent{RequestID: requestIDOf(l.Start), Unreadable: why, TooLarge: l.TooLong}
}

// requestIDOf reads "requestId":"ID" from the start of a line, if an
// id made of printable ASCII is there.
func requestIDOf(b []byte) string {
	_, rest, ok := bytes.Cut(b, []byte(`"requestId":"`))
	if !ok {
		return ""
	}
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || end > 128 {
		return ""
	}
	for _, c := range rest[:end] {
		if c < 0x20 || c == '\\' || c >= 0x7f {
			return ""
		}
	}
	return string(rest[:end])
}

func invocationsPath(node string) string { return "/v1/agent/nodes/" + node + "/invocations" }

// invocationDecoder decodes one stream's lines. Every invoke line carries
// its function's spec, the same JSON for all the invocations of one
// configuration: it is decoded once and the events share the result
// (readers must not modify it), instead of allocating the spec and its
// environment map again for every invocation.
type invocationDecoder struct {
	specs map[string]*wire.FunctionSpec // by the spec's JSON
}

// invocationLine is wire.InvocationEvent with the spec left as JSON.
type invocationLine struct {
	Type         string          `json:"type"`
	FunctionName string          `json:"functionName,omitempty"`
	RequestID    string          `json:"requestId,omitempty"`
	Function     json.RawMessage `json:"function,omitempty"`
	Payload      []byte          `json:"payload,omitempty"`
	Tail         bool            `json:"tail,omitempty"`
}

func (d *invocationDecoder) decode(b []byte, ev *wire.InvocationEvent) error {
	if d.decodeInvoke(b, ev) {
		return nil
	}
	var l invocationLine
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*ev = wire.InvocationEvent{Type: l.Type, FunctionName: l.FunctionName, RequestID: l.RequestID, Payload: l.Payload, Tail: l.Tail}
	if len(l.Function) == 0 || string(l.Function) == "null" {
		return nil
	}
	if spec, ok := d.specs[string(l.Function)]; ok {
		ev.Function = spec
		return nil
	}
	spec := new(wire.FunctionSpec)
	if err := json.Unmarshal(l.Function, spec); err != nil {
		return err
	}
	if d.specs == nil || len(d.specs) >= 1024 {
		d.specs = map[string]*wire.FunctionSpec{}
	}
	d.specs[string(l.Function)] = spec
	ev.Function = spec
	return nil
}

// decodeInvoke decodes, without encoding/json, an invoke line in the one
// shape servers write (pkg/api/lambda's invocationLines):
//
//	{"type":"invoke","requestId":"ID","function":SPEC[,"payload":"BASE64"][,"tail":true]}
//
// where SPEC is byte for byte a spec this stream decoded before. It
// reports false for anything else (a new spec, a ping, an escape in the
// id, another field or order), which json.Unmarshal then decodes: the
// result is the same either way. The line is read from both ends: the
// spec is an object (it ends in '}'), base64 holds no quote, so what
// follows the spec is found without scanning it.
func (d *invocationDecoder) decodeInvoke(b []byte, ev *wire.InvocationEvent) bool {
	rest, ok := bytes.CutPrefix(b, []byte(`{"type":"`+wire.InvocationInvoke+`","requestId":"`))
	if !ok {
		return false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return false
	}
	for _, c := range rest[:end] {
		if c < 0x20 || c == '\\' || c >= 0x80 { // escapes, control bytes, UTF-8: json.Unmarshal
			return false
		}
	}
	id := rest[:end]
	if rest, ok = bytes.CutPrefix(rest[end+1:], []byte(`,"function":`)); !ok {
		return false
	}
	if rest, ok = bytes.CutSuffix(rest, []byte("}")); !ok {
		return false
	}
	var tail bool
	if r, ok := bytes.CutSuffix(rest, []byte(`,"tail":true`)); ok {
		rest, tail = r, true
	}
	var payload []byte
	if n := len(rest); n > 0 && rest[n-1] == '"' {
		open := bytes.LastIndexByte(rest[:n-1], '"')
		if open < 0 {
			return false
		}
		enc := rest[open+1 : n-1]
		if rest, ok = bytes.CutSuffix(rest[:open+1], []byte(`,"payload":"`)); !ok || len(enc) == 0 {
			return false
		}
		for _, c := range enc {
			if c < 0x20 || c == '\\' { // base64 skips \r and \n; a JSON string holds neither raw
				return false
			}
		}
		// As encoding/json decodes a []byte.
		payload = make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		n, err := base64.StdEncoding.Decode(payload, enc)
		if err != nil {
			return false
		}
		payload = payload[:n]
	}
	spec, ok := d.specs[string(rest)]
	if !ok {
		return false
	}
	*ev = wire.InvocationEvent{Type: wire.InvocationInvoke, RequestID: string(id), Function: spec, Payload: payload, Tail: tail}
	return true
}

// InvocationResult posts one invocation's result. A result nobody waits
// for any more (410: the caller timed out) is not an error.
func (c *Client) InvocationResult(ctx context.Context, node, id string, res wire.InvocationResult) error {
	err := c.Do(ctx, http.MethodPost, "/v1/agent/nodes/"+node+"/invocations/"+url.PathEscape(id), res, nil)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusGone {
		return nil
	}
	return err
}

// InvocationResults posts a batch of results (each names its RequestID).
// A server without the batch endpoint (an older one) answers 404 or 405:
// errors.Is(err, ErrNoResultBatches) then, and the agent posts results
// one by one.
func (c *Client) InvocationResults(ctx context.Context, node string, rs []wire.InvocationResult) error {
	body, err := encodeResults(rs)
	if err != nil {
		return err
	}
	err = c.Do(ctx, http.MethodPost, "/v1/agent/nodes/"+node+"/invocation-results", body, nil)
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed) {
		return fmt.Errorf("%w: %v", ErrNoResultBatches, err)
	}
	return err
}

// ErrNoResultBatches: the server takes results one by one only.
var ErrNoResultBatches = errors.New("the server takes no batches of invocation results")

// ---- functions (orch CLI)

// Functions lists the functions.
func (c *Client) Functions(ctx context.Context) ([]wire.Function, error) {
	var out wire.FunctionList
	err := c.Do(ctx, http.MethodGet, "/v1/functions", nil, &out)
	return out.Functions, err
}

// Function reads one function.
func (c *Client) Function(ctx context.Context, name string) (*wire.Function, error) {
	var out wire.Function
	if err := c.Do(ctx, http.MethodGet, "/v1/functions/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteFunction deletes a function.
func (c *Client) DeleteFunction(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/functions/"+url.PathEscape(name), nil, nil)
}

// Invoke invokes a function.
func (c *Client) Invoke(ctx context.Context, name string, in wire.InvokeRequest) (*wire.InvokeResponse, error) {
	var out wire.InvokeResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/functions/"+url.PathEscape(name)+"/invoke", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FunctionLogs returns a function's recent log lines.
func (c *Client) FunctionLogs(ctx context.Context, name string) (string, error) {
	body, err := c.Stream(ctx, http.MethodGet, "/v1/functions/"+url.PathEscape(name)+"/logs", nil)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	return string(b), err
}

// EventSourceMappings lists the event source mappings (of one function
// when given).
func (c *Client) EventSourceMappings(ctx context.Context, function string) ([]map[string]any, error) {
	var out struct {
		Mappings []map[string]any `json:"eventSourceMappings"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/eventsourcemappings?function="+url.QueryEscape(function), nil, &out)
	return out.Mappings, err
}

// DeleteEventSourceMapping deletes a mapping by UUID.
func (c *Client) DeleteEventSourceMapping(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/eventsourcemappings/"+url.PathEscape(id), nil, nil)
}

// Usage reads the metering figures (orch usage).
func (c *Client) Usage(ctx context.Context) (*wire.Usage, error) {
	var out wire.Usage
	if err := c.Do(ctx, http.MethodGet, "/v1/usage", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
