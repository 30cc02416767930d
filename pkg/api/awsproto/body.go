package awsproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ErrBodyTooLarge is returned by ReadBody for a body over its limit.
var ErrBodyTooLarge = errors.New("awsproto: request body too large")

// bufferedBody is a request body read into memory (by FormAction or
// ReadBody), left on the request so that whoever comes next gets the
// same bytes instead of reading the connection again.
type bufferedBody struct {
	*bytes.Reader
	b    []byte
	err  error         // why reading stopped short, if it did
	orig io.ReadCloser // the body net/http gave (closed once read to its end); nil if none
}

func (*bufferedBody) Close() error { return nil }

// ReadBody returns r's body, at most max bytes. It reads the connection
// only the first time: a body FormAction sniffed, or an earlier ReadBody
// read, comes back from memory, and r.Body stays readable for a proxy.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if bb, ok := r.Body.(*bufferedBody); ok {
		return bb.b, bb.err
	}
	if r.Body == nil || r.Body == http.NoBody {
		r.Body = &bufferedBody{Reader: bytes.NewReader(nil)}
		return nil, nil
	}
	var b []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= max {
		// The length is known: one buffer of exactly that size, not
		// ReadAll's growing copies (net/http ends the body at n bytes).
		b = make([]byte, n)
		var got int
		got, err = io.ReadFull(r.Body, b)
		b = b[:got]
		if err == nil {
			// One more read, to the body's end (net/http answers io.EOF
			// at Content-Length without a system call): a body read to
			// its end and closed is one net/http does not drain again
			// once the handler is done (RestoreBody).
			var end [1]byte
			_, _ = r.Body.Read(end[:])
		}
	} else {
		b, err = io.ReadAll(io.LimitReader(r.Body, max+1))
	}
	orig := r.Body
	if err != nil {
		err = fmt.Errorf("awsproto: reading the request body: %w", err)
	} else if int64(len(b)) > max {
		b, err = b[:max], fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, max)
	} else {
		orig.Close()
	}
	// A body not read to its end (over the limit, broken) is left open:
	// net/http then sees unread bytes when it writes the answer's header
	// (which may be before RestoreBody, for a large answer) and drains
	// them or closes the connection. Closed here, it would take the
	// remaining bytes as the next request whenever the header went out
	// while the buffered body stood in for its own (a broken chunked
	// body, or 100-continue over the limit): request smuggling.
	r.Body = &bufferedBody{Reader: bytes.NewReader(b), b: b, err: err, orig: orig}
	return b, err
}

// RestoreBody puts back on r the body net/http gave it, once ReadBody has
// read it into memory; a handler defers it. After the handler, net/http
// looks at r.Body to decide whether to drain what is left of the request
// before the next one: a body of its own, read to the end and closed,
// needs nothing, while any other body (the buffered one) costs a drain
// attempt per request (a reader, a copy loop, a failed read).
func RestoreBody(r *http.Request) {
	if bb, ok := r.Body.(*bufferedBody); ok && bb.orig != nil {
		r.Body = bb.orig
	}
}

// Target is the X-Amz-Target header of the AWS JSON protocols
// ("AmazonSQS.SendMessage"); "" for other protocols.
func Target(r *http.Request) string { return r.Header.Get("X-Amz-Target") }

// IsJSON reports whether r speaks AWS JSON 1.0/1.1 (it names its action in
// X-Amz-Target) rather than the query protocol.
func IsJSON(r *http.Request) bool { return Target(r) != "" }

// FormAction is the Action parameter of a query-protocol request: from the
// URL's query, or else from a form-encoded POST body, which it reads (at
// most max bytes) and leaves for ReadBody. "" when there is none.
func FormAction(r *http.Request, max int64) string {
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return ""
	}
	if _, ok := r.Body.(*bufferedBody); !ok && !isForm(r) {
		return ""
	}
	b, err := ReadBody(r, max)
	if err != nil {
		return ""
	}
	return formAction(b)
}

func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	const form = "application/x-www-form-urlencoded"
	return len(ct) >= len(form) && ct[:len(form)] == form
}

// formAction finds Action=... in a form body without parsing all of it.
func formAction(b []byte) string {
	s := b
	for len(s) > 0 {
		var part []byte
		if i := bytes.IndexByte(s, '&'); i >= 0 {
			part, s = s[:i], s[i+1:]
		} else {
			part, s = s, nil
		}
		if v, ok := bytes.CutPrefix(part, []byte("Action=")); ok {
			a, err := url.QueryUnescape(string(v))
			if err != nil {
				return ""
			}
			return a
		}
	}
	return ""
}

// Form is a query-protocol request's parameters: the URL query, plus a
// POST's form body (body is what ReadBody returned).
func Form(r *http.Request, body []byte) (url.Values, error) {
	form := r.URL.Query()
	if r.Method != http.MethodPost || len(body) == 0 {
		return form, nil
	}
	bf, err := url.ParseQuery(string(body))
	if err != nil {
		return form, fmt.Errorf("the form body is malformed: %w", err)
	}
	for k, v := range bf {
		// A parameter in both places is refused rather than one winning:
		// the action and its parameters must be what was signed, and a
		// body must never override what a presigned query says.
		if _, dup := form[k]; dup {
			return form, fmt.Errorf("parameter %s is given both in the query string and in the form body; send it once", k)
		}
		form[k] = v
	}
	return form, nil
}
