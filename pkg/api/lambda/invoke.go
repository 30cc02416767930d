package lambda

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/function"
)

// tailBytes is how much of an invocation's log LogType Tail returns.
const tailBytes = 4096

// invokeHandler is Invoke: POST /2015-03-31/functions/{name}/invocations.
func (h *Handler) invokeHandler(w http.ResponseWriter, r *http.Request) {
	c, ok := h.prelude(w, r, false)
	if !ok {
		return
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = function.RequestResponse
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		h.fail(w, c.reqID, invalid("X-Amz-Log-Type %q: use None or Tail", logType))
		return
	}
	if typ != function.RequestResponse && typ != function.Event && typ != function.DryRun {
		h.fail(w, c.reqID, invalid("X-Amz-Invocation-Type %q: use RequestResponse, Event or DryRun", typ))
		return
	}
	payload := c.body
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		h.fail(w, c.reqID, &awsproto.Error{Code: "InvalidRequestContentException", Status: http.StatusBadRequest,
			Message: "Could not parse request body into json: the payload must be a JSON document"})
		return
	}
	res, err := h.svc.Invoke(r.Context(), r.PathValue("name"), payload, typ, logType == "Tail" && typ == function.RequestResponse)
	if err != nil {
		h.fail(w, c.reqID, err)
		return
	}
	hd := w.Header()
	hd.Set("x-amzn-RequestId", res.RequestID)
	switch res.StatusCode {
	case http.StatusAccepted, http.StatusNoContent:
		w.WriteHeader(res.StatusCode)
		return
	}
	hd.Set("X-Amz-Executed-Version", "$LATEST")
	hd.Set("Content-Type", "application/json")
	if res.FunctionError != "" {
		hd.Set("X-Amz-Function-Error", res.FunctionError)
	}
	if logType == "Tail" {
		logs := res.Logs
		if len(logs) > tailBytes {
			logs = logs[len(logs)-tailBytes:]
		}
		hd.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(logs))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}
