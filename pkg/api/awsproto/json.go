package awsproto

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// JSONDialect writes answers of the AWS JSON 1.0 and 1.1 protocols.
type JSONDialect struct {
	// Version is "1.0" or "1.1" (the Content-Type's application/x-amz-json-VERSION).
	Version string
	// TypePrefix goes before an error's code in __type ("com.amazonaws.sqs#").
	TypePrefix string
	// QueryCompatible adds the x-amzn-query-error header (QueryCode;Fault)
	// that SDKs of services which moved from the query protocol read.
	QueryCompatible bool
}

func (d JSONDialect) contentType() string { return "application/x-amz-json-" + d.Version }

// WriteResult writes v as a 200 answer.
func (d JSONDialect) WriteResult(w http.ResponseWriter, reqID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		d.WriteError(w, reqID, ErrInternal)
		return
	}
	d.WriteEncoded(w, reqID, b)
}

// WriteEncoded writes b, a result the caller encoded itself, as a 200 answer.
func (d JSONDialect) WriteEncoded(w http.ResponseWriter, reqID string, b []byte) {
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Type", d.contentType())
	writeBody(w, http.StatusOK, b)
}

// WriteError writes e: {"__type": prefix+code, "message": ...}.
func (d JSONDialect) WriteError(w http.ResponseWriter, reqID string, e *Error) {
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Type", d.contentType())
	if d.QueryCompatible {
		w.Header().Set("x-amzn-query-error", e.Query()+";"+e.Fault())
	}
	b, _ := json.Marshal(map[string]string{"__type": d.TypePrefix + e.Code, "message": e.Message})
	writeBody(w, e.HTTPStatus(), b)
}

// RESTJSONDialect writes answers of the REST-JSON protocol (Lambda).
type RESTJSONDialect struct{}

// WriteResult writes v with status.
func (RESTJSONDialect) WriteResult(w http.ResponseWriter, reqID string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		RESTJSONDialect{}.WriteError(w, reqID, ErrInternal)
		return
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, status, b)
}

// WriteError writes e: the X-Amzn-ErrorType header and {"Type", "message"}.
func (RESTJSONDialect) WriteError(w http.ResponseWriter, reqID string, e *Error) {
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.Header().Set("Content-Type", "application/json")
	typ := "User"
	if e.Fault() == "Receiver" {
		typ = "Service"
	}
	body := map[string]string{"Type": typ, "message": e.Message}
	if e.Reason != "" {
		body["Reason"] = e.Reason
	}
	b, _ := json.Marshal(body)
	writeBody(w, e.HTTPStatus(), b)
}

// writeBody sends b, the whole answer, with its Content-Length and
// status. net/http works the length out itself only for an answer under
// 2 KB that the handler has finished writing; a larger one (a receive of
// ten messages) went chunked: more bytes, more for the client to parse,
// and for answers near the 4 KB write buffer an extra write, which over
// TLS is an extra record.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(b))}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	_, _ = w.Write(b)
}
