package lambda

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/function"
)

// AgentRoutes are the agents' side of invocations, for node tokens: the
// stream an agent opens to receive invocations (it opens no port for
// them) and the endpoint it posts each result to.
func (h *Handler) AgentRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/agent/nodes/{name}/invocations":       h.agentStream,
		"POST /v1/agent/nodes/{name}/invocations/{id}": h.agentResult,
	}
}

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
	send := func(ev wire.InvocationEvent) bool {
		if err := enc.Encode(ev); err != nil {
			return false
		}
		return true
	}
	if !send(wire.InvocationEvent{Type: wire.InvocationPing}) {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if !send(wire.InvocationEvent{Type: wire.InvocationPing}) {
				return
			}
		case req := <-conn.Requests():
			if !send(invocationEvent(req)) {
				return
			}
			// Send what else is queued before one flush.
		more:
			for {
				select {
				case req := <-conn.Requests():
					if !send(invocationEvent(req)) {
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

func invocationEvent(req function.Request) wire.InvocationEvent {
	if req.Deleted != "" {
		return wire.InvocationEvent{Type: wire.InvocationDelete, FunctionName: req.Deleted}
	}
	f := req.Function
	spec := &wire.FunctionSpec{Name: f.FunctionName, ARN: f.FunctionArn, Image: f.Code.ImageUri, MemoryMiB: f.MemorySize,
		TimeoutSec: f.Timeout, Revision: f.RevisionId}
	if f.Environment != nil {
		spec.Env = f.Environment.Variables
	}
	if f.ReservedConcurrentExecutions != nil {
		spec.ReservedConcurrency = *f.ReservedConcurrentExecutions
	}
	return wire.InvocationEvent{Type: wire.InvocationInvoke, RequestID: req.ID, Function: spec, Payload: req.Payload, Tail: req.Tail}
}

func (h *Handler) agentResult(w http.ResponseWriter, r *http.Request) {
	node, id := r.PathValue("name"), r.PathValue("id")
	var res wire.InvocationResult
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&res); err != nil {
		reply(w, nil, invalid("invocation result: %v", err))
		return
	}
	var ok bool
	switch res.ErrorKind {
	case "":
		ok = h.svc.Hub().Complete(node, id, function.Result{
			Payload: res.Payload, FunctionError: res.FunctionError, ErrorType: res.ErrorType,
			Duration:     time.Duration(res.DurationMs * float64(time.Millisecond)),
			InitDuration: time.Duration(res.InitDurationMs * float64(time.Millisecond)),
			Report:       res.Report, Logs: res.Logs,
		})
	case wire.InvokeErrThrottled:
		ok = h.svc.Hub().Fail(node, id, fmt.Errorf("%w: node %s: %s", function.ErrThrottled, node, res.Error))
	case wire.InvokeErrInit:
		msg := strings.TrimPrefix(res.Error, "lambdart: the function's environment failed to initialise: ")
		ok = h.svc.Hub().Fail(node, id, fmt.Errorf("%w: %s", function.ErrInit, msg))
	default:
		ok = h.svc.Hub().Fail(node, id, fmt.Errorf("%w: node %s: %s", function.ErrAgentLost, node, res.Error))
	}
	if !ok {
		// The caller gave up (timeout) or the id is unknown: nothing waits.
		w.WriteHeader(http.StatusGone)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
