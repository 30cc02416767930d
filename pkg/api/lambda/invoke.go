package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/function"
)

// tailBytes is how much of an invocation's log LogType Tail returns.
const tailBytes = 4096

// invoke is Invoke: POST /2015-03-31/functions/{name}/invocations. Its
// answer is the function's payload as it is, so it writes it itself.
func (h *Handler) invoke(ctx context.Context, c *call) (answer, error) {
	r := c.r
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = function.RequestResponse
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		return answer{}, invalid("X-Amz-Log-Type %q: use None or Tail", logType)
	}
	if typ != function.RequestResponse && typ != function.Event && typ != function.DryRun {
		return answer{}, invalid("X-Amz-Invocation-Type %q: use RequestResponse, Event or DryRun", typ)
	}
	payload := c.body
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		return answer{}, &awsproto.Error{Code: "InvalidRequestContentException", Status: http.StatusBadRequest,
			Message: "Could not parse request body into json: the payload must be a JSON document"}
	}
	res, err := h.svc.Invoke(ctx, c.name, payload, typ, logType == "Tail" && typ == function.RequestResponse)
	if err != nil {
		return answer{}, err
	}
	return answer{body: writeAnswer(func(w http.ResponseWriter) { writeInvokeResult(w, res, logType) })}, nil
}

// writeInvokeResult writes an invocation's answer as Lambda does: the
// payload as the body, the rest in X-Amz-* headers.
func writeInvokeResult(w http.ResponseWriter, res function.InvokeResult, logType string) {
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
