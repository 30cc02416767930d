package awsproto

import (
	"net/http"
	"strings"
)

// XMLWriter builds the query protocol's XML answers.
type XMLWriter struct{ strings.Builder }

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "\r", "&#xD;")

// El writes <name>text</name>, text escaped.
func (w *XMLWriter) El(name, text string) {
	w.WriteString("<" + name + ">")
	_, _ = xmlEscaper.WriteString(w, text)
	w.WriteString("</" + name + ">")
}

// Opt writes El(name, text) unless text is empty.
func (w *XMLWriter) Opt(name, text string) {
	if text != "" {
		w.El(name, text)
	}
}

// Open writes <name>.
func (w *XMLWriter) Open(name string) { w.WriteString("<" + name + ">") }

// Close writes </name>.
func (w *XMLWriter) Close(name string) { w.WriteString("</" + name + ">") }

// XMLDialect writes answers of the query protocol.
type XMLDialect struct {
	// Namespace is the answers' xmlns ("http://queue.amazonaws.com/doc/2012-11-05/").
	Namespace string
}

// Response renders <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata/>;
// a nil result leaves the Result element out (actions without output).
func (d XMLDialect) Response(action, reqID string, result func(*XMLWriter)) []byte {
	var w XMLWriter
	w.WriteString(`<?xml version="1.0"?><` + action + `Response xmlns="` + d.Namespace + `">`)
	if result != nil {
		w.Open(action + "Result")
		result(&w)
		w.Close(action + "Result")
	}
	w.Open("ResponseMetadata")
	w.El("RequestId", reqID)
	w.Close("ResponseMetadata")
	w.Close(action + "Response")
	return []byte(w.String())
}

// WriteResult writes a 200 answer rendered by Response.
func (d XMLDialect) WriteResult(w http.ResponseWriter, action, reqID string, result func(*XMLWriter)) {
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Type", "text/xml")
	writeBody(w, http.StatusOK, d.Response(action, reqID, result))
}

// ErrorDocument renders the query protocol's ErrorResponse for e.
func (d XMLDialect) ErrorDocument(reqID string, e *Error) []byte {
	var w XMLWriter
	w.WriteString(`<?xml version="1.0"?><ErrorResponse xmlns="` + d.Namespace + `"><Error>`)
	w.El("Type", e.Fault())
	w.El("Code", e.Query())
	w.El("Message", e.Message)
	w.WriteString("<Detail/></Error>")
	w.El("RequestId", reqID)
	w.WriteString("</ErrorResponse>")
	return []byte(w.String())
}

// WriteError writes e as an ErrorResponse with e's status.
func (d XMLDialect) WriteError(w http.ResponseWriter, reqID string, e *Error) {
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Type", "text/xml")
	writeBody(w, e.HTTPStatus(), d.ErrorDocument(reqID, e))
}
