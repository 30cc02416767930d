package lambda

import (
	"encoding/json"
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/function"
)

// REST is Orch's native function API under /v1 for the orch CLI: list,
// get, delete, invoke, logs, and the event source mappings.
type REST struct{ svc *function.Service }

// NewREST returns the /v1 function handlers.
func NewREST(svc *function.Service) *REST { return &REST{svc: svc} }

// Routes are the handlers by pattern (GETs for viewers, the rest admin).
func (rs *REST) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/functions":                rs.list,
		"GET /v1/functions/{name}":         rs.get,
		"DELETE /v1/functions/{name}":      rs.del,
		"POST /v1/functions/{name}/invoke": rs.invoke,
		"GET /v1/functions/{name}/logs":    rs.logs,
		"GET /v1/eventsourcemappings":      rs.listMappings,
		"GET /v1/eventsourcemappings/{id}": rs.getMapping,
		"DELETE /v1/eventsourcemappings/{id}": func(w http.ResponseWriter, r *http.Request) {
			m, err := rs.svc.DeleteMapping(r.Context(), r.PathValue("id"))
			reply(w, m, err)
		},
	}
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		e := toWire(err)
		w.WriteHeader(e.HTTPStatus())
		_ = json.NewEncoder(w).Encode(wire.Error{Code: e.Code, Message: e.Message})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

func (rs *REST) list(w http.ResponseWriter, r *http.Request) {
	fns, err := rs.svc.List(r.Context())
	out := wire.FunctionList{Functions: []wire.Function{}}
	for _, f := range fns {
		out.Functions = append(out.Functions, wire.Function{StoredFunction: *f, Inflight: rs.svc.Hub().Inflight(f.FunctionName)})
	}
	reply(w, out, err)
}

func (rs *REST) get(w http.ResponseWriter, r *http.Request) {
	f, err := rs.svc.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		reply(w, nil, err)
		return
	}
	reply(w, wire.Function{StoredFunction: *f, Inflight: rs.svc.Hub().Inflight(f.FunctionName)}, nil)
}

func (rs *REST) del(w http.ResponseWriter, r *http.Request) {
	err := rs.svc.Delete(r.Context(), r.PathValue("name"))
	reply(w, map[string]string{"deleted": r.PathValue("name")}, err)
}

func (rs *REST) invoke(w http.ResponseWriter, r *http.Request) {
	var in wire.InvokeRequest
	body, err := awsproto.ReadBody(r, MaxBodyBytes)
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		reply(w, nil, invalid("the request must be {\"payload\": JSON, \"type\": ..., \"log\": bool}: %v", err))
		return
	}
	payload := []byte(in.Payload)
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	res, err := rs.svc.Invoke(r.Context(), r.PathValue("name"), payload, in.Type, in.Log)
	if err != nil {
		reply(w, nil, err)
		return
	}
	out := wire.InvokeResponse{RequestID: res.RequestID, StatusCode: res.StatusCode, FunctionError: res.FunctionError,
		Payload: json.RawMessage(res.Payload), Node: res.Node, DurationMs: float64(res.Duration.Microseconds()) / 1000}
	if !json.Valid(res.Payload) {
		out.Payload = nil
		out.RawPayload = string(res.Payload)
	}
	if in.Log {
		out.Logs = string(res.Logs)
	}
	reply(w, out, nil)
}

func (rs *REST) logs(w http.ResponseWriter, r *http.Request) {
	if _, err := rs.svc.Get(r.Context(), r.PathValue("name")); err != nil {
		reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(rs.svc.Logs(r.PathValue("name")))
}

func (rs *REST) listMappings(w http.ResponseWriter, r *http.Request) {
	ms, err := rs.svc.ListMappings(r.Context(), r.URL.Query().Get("function"), "")
	out := struct {
		Mappings []mappingConfiguration `json:"eventSourceMappings"`
	}{Mappings: []mappingConfiguration{}}
	for _, m := range ms {
		out.Mappings = append(out.Mappings, mappingOf(m))
	}
	reply(w, out, err)
}

func (rs *REST) getMapping(w http.ResponseWriter, r *http.Request) {
	m, err := rs.svc.GetMapping(r.Context(), r.PathValue("id"))
	if err != nil {
		reply(w, nil, err)
		return
	}
	reply(w, mappingOf(m), nil)
}
