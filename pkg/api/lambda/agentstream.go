package lambda

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/orch-project/orch/internal/jsonstr"
	"net/http"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
)

// AgentRoutes are the agents' side of invocations, for node tokens: the
// stream an agent opens to receive invocations (it opens no port for
// them) and the endpoints it posts results to: batches (what finished
// while the previous batch travelled) or, from older agents, one by one.
func (h *Handler) AgentRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/agent/nodes/{name}/invocations":         h.agentStream,
		"POST /v1/agent/nodes/{name}/invocations/{id}":   h.agentResult,
		"POST /v1/agent/nodes/{name}/invocation-results": h.agentResults,
	}
}

// maxResultBatch bounds a batch of results (agents send at most about
// 4 MiB of results in one, or one larger result alone).
const maxResultBatch = 16 << 20

// streamPing keeps an idle invocation stream visibly alive.
const streamPing = 15 * time.Second

func (h *Handler) agentStream(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("name")
	hub := h.svc.Hub()
	conn := hub.Attach(node)
	defer hub.Detach(conn)
	h.log.Info("agent attached its invocation stream", "node", node)
	defer h.log.Info("agent's invocation stream ended", "node", node)

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	lines := invocationLines{}
	send := func(req function.Request) bool {
		if req.Deleted != "" {
			return enc.Encode(wire.InvocationEvent{Type: wire.InvocationDelete, FunctionName: req.Deleted}) == nil
		}
		line := lines.line(req)
		if len(line)-1 > wire.MaxInvocationLine {
			// The agent would refuse it: fail it here, keep the stream.
			h.log.Warn("an invocation is too large for the agents' stream; failing it", "node", node,
				"function", req.Function.FunctionName, "requestId", req.ID, "bytes", len(line)-1, "limit", wire.MaxInvocationLine)
			hub.Fail(node, req.ID, fmt.Errorf("%w: the invocation takes %d bytes on the agents' stream, over its %d byte limit",
				function.ErrPayloadTooLarge, len(line)-1, wire.MaxInvocationLine))
			return true
		}
		_, err := w.Write(line)
		return err == nil
	}
	ping := func() bool { return enc.Encode(wire.InvocationEvent{Type: wire.InvocationPing}) == nil }
	if !ping() {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	pinger := time.NewTicker(streamPing)
	defer pinger.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-pinger.C:
			if !ping() {
				return
			}
		case req := <-conn.Requests():
			if !send(req) {
				return
			}
			// Send what else is queued before one flush.
		more:
			for {
				select {
				case req := <-conn.Requests():
					if !send(req) {
						return
					}
				default:
					break more
				}
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

func functionSpec(f *model.StoredFunction) *wire.FunctionSpec {
	spec := &wire.FunctionSpec{Name: f.FunctionName, ARN: f.FunctionArn, Image: f.Code.ImageUri, MemoryMiB: f.MemorySize,
		TimeoutSec: f.Timeout, Revision: f.RevisionId}
	if f.Environment != nil {
		spec.Env = f.Environment.Variables
	}
	if f.ReservedConcurrentExecutions != nil {
		spec.ReservedConcurrency = *f.ReservedConcurrentExecutions
	}
	return spec
}

// invocationLines writes invoke events (wire.InvocationEvent as JSON, one
// line each) for one stream. Every invocation carries its function's spec,
// which stays the same across a function's invocations: it is encoded
// once per function configuration (the cache's stored object, replaced on
// every change) rather than once per invocation, and the rest of the
// line is appended by hand (the id, base64 of the payload, tail) into one
// reused buffer.
type invocationLines struct {
	specs map[string]encodedSpec // function name -> its spec's JSON
	buf   []byte
}

type encodedSpec struct {
	fn   *model.StoredFunction
	json []byte
}

func (l *invocationLines) line(req function.Request) []byte {
	f := req.Function
	es, ok := l.specs[f.FunctionName]
	if !ok || es.fn != f {
		b, _ := json.Marshal(functionSpec(f))
		if l.specs == nil || len(l.specs) >= 1024 {
			l.specs = map[string]encodedSpec{}
		}
		es = encodedSpec{fn: f, json: b}
		l.specs[f.FunctionName] = es
	}
	b := append(l.buf[:0], `{"type":"`+wire.InvocationInvoke+`","requestId":`...)
	b = jsonstr.Append(b, req.ID)
	b = append(b, `,"function":`...)
	b = append(b, es.json...)
	if len(req.Payload) > 0 { // []byte is base64 in JSON, left out when empty
		b = append(b, `,"payload":"`...)
		b = base64.StdEncoding.AppendEncode(b, req.Payload)
		b = append(b, '"')
	}
	if req.Tail {
		b = append(b, `,"tail":true`...)
	}
	b = append(b, "}\n"...)
	l.buf = b
	return b
}

func (h *Handler) agentResult(w http.ResponseWriter, r *http.Request) {
	node, id := r.PathValue("name"), r.PathValue("id")
	var res wire.InvocationResult
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&res); err != nil {
		reply(w, nil, invalid("invocation result: %v", err))
		return
	}
	if !h.deliver(node, id, &res) {
		// The caller gave up (timeout) or the id is unknown: nothing waits.
		w.WriteHeader(http.StatusGone)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentResults takes a batch of results. Results nobody waits for (the
// caller timed out, an unknown id, an answer given twice) are skipped:
// the agent has nothing to do about them, so the batch succeeds.
func (h *Handler) agentResults(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("name")
	body, err := awsproto.ReadBody(r, maxResultBatch)
	if err != nil {
		reply(w, nil, invalid("invocation results: %v", err))
		return
	}
	batch, err := decodeResults(body)
	if err != nil {
		reply(w, nil, invalid("invocation results: %v", err))
		return
	}
	for i := range batch.Results {
		if batch.Results[i].RequestID == "" {
			reply(w, nil, invalid("invocation results: results[%d].requestId is missing: name the invocation each result answers", i))
			return
		}
	}
	for i := range batch.Results {
		res := &batch.Results[i]
		h.deliver(node, res.RequestID, res)
	}
	w.WriteHeader(http.StatusNoContent)
}

// deliver hands one result to the invocation waiting for it; false when
// none waits on that node.
func (h *Handler) deliver(node, id string, res *wire.InvocationResult) bool {
	hub := h.svc.Hub()
	switch res.ErrorKind {
	case "":
		return hub.Complete(node, id, function.Result{
			Payload: res.Payload, FunctionError: res.FunctionError, ErrorType: res.ErrorType,
			Duration:     time.Duration(res.DurationMs * float64(time.Millisecond)),
			InitDuration: time.Duration(res.InitDurationMs * float64(time.Millisecond)),
			Report:       res.Report, Logs: res.Logs, MaxMemoryMiB: res.MaxMemoryMB,
			Environments: res.Environments,
		})
	case wire.InvokeErrThrottled:
		return hub.Fail(node, id, fmt.Errorf("%w: node %s: %s", function.ErrThrottled, node, res.Error))
	case wire.InvokeErrStopping:
		return hub.Stopping(node, id)
	case wire.InvokeErrTooLarge:
		return hub.Fail(node, id, fmt.Errorf("%w: node %s: %s", function.ErrPayloadTooLarge, node, res.Error))
	case wire.InvokeErrBadFrame:
		return hub.Fail(node, id, fmt.Errorf("%w: %s", function.ErrBadFrame, res.Error))
	case wire.InvokeErrInit:
		msg := strings.TrimPrefix(res.Error, "lambdart: the function's environment failed to initialise: ")
		return hub.Fail(node, id, fmt.Errorf("%w: %s", function.ErrInit, msg))
	default:
		return hub.Fail(node, id, fmt.Errorf("%w: node %s: %s", function.ErrAgentLost, node, res.Error))
	}
}
