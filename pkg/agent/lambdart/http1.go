package lambdart

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Runtime API is served by this small HTTP/1.1 loop rather than
// net/http's server. A warm invocation costs two exchanges with the
// runtime (the answer to its invocation/next, its response POST), and
// net/http's per-request work (a goroutine and an extra read syscall for
// its background read, the Request, URL and Header maps, the response's
// chunk writer and flush) was most of the agent's CPU per invocation at
// concurrency 16 (docs/functions.md, "Where a warm invocation's CPU goes").
// The clients are Lambda runtimes (aws-lambda-go's net/http client and the
// like), so it reads what they send: a request line, headers, a body with
// Content-Length or chunked (aws-lambda-go posts responses chunked, with
// trailers), keep-alive; and it answers each request with one write.
// Everything else is refused with a 4xx/5xx and the connection closed.

const (
	// maxHeaderBytes bounds a request's headers (and a chunked body's
	// trailers), as net/http's default does: aws-lambda-go may send the
	// X-Ray error cause, up to 1 MB, as a header.
	maxHeaderBytes = 1<<20 + 4096
)

// Variables so that tests can shorten them; Listen copies them into the
// Env, so that a test changing one does not race with another test's
// connections still ending.
var (
	// readTimeout bounds reading one request once its first byte came
	// (net/http's ReadHeaderTimeout was 10 s; the body is local too).
	readTimeout = 10 * time.Second
	// pollCheck is how often a waiting invocation/next checks that its
	// runtime is still connected.
	pollCheck = 2 * time.Second
	// drainTime bounds how long Close lets connections finish their
	// answers.
	drainTime = time.Second
	// lingerTime bounds draining a refused body before closing.
	lingerTime = 500 * time.Millisecond
)

// request is one parsed request; its fields are reused across the
// requests of a connection except body, which handlers may keep.
type request struct {
	method string
	path   string
	// errType is Lambda-Runtime-Function-Error-Type, from the headers or
	// a chunked body's trailers.
	errType string
	body    []byte
	// tooLarge: the body exceeded the limit (body holds limit+1 bytes and
	// the rest was not read; the connection closes after the answer).
	tooLarge bool
	close    bool // the client asked to close, or the stream cannot continue

	// What the headers said of the body, for readBody.
	contentLength int // -1: none
	chunked       bool
	expect        bool // Expect: 100-continue
	limit         int  // the body's limit readBody was given
}

// errBadRequest is a malformed request; the connection closes after a 400.
type errBadRequest struct {
	status int
	msg    string
}

func (e *errBadRequest) Error() string { return e.msg }

func bad(status int, msg string) error { return &errBadRequest{status: status, msg: msg} }

// readLine reads one CRLF- (or LF-) terminated line without its end.
// A line longer than the reader's buffer comes back cut to the buffer
// (long is true) after the rest was read and dropped; *budget is charged
// with every byte and the read fails once it is spent. A chunked body's
// framing must end its lines with CRLF, as net/http's chunked reader
// requires since Go 1.24.2 (a bare LF there is a smuggling vector).
func readLine(br *bufio.Reader, budget *int) (line []byte, long bool, err error) {
	line, long, _, err = readLineEnd(br, budget)
	return line, long, err
}

// readCRLFLine is readLine for a chunked body's framing: a bare LF is a
// malformed request.
func readCRLFLine(br *bufio.Reader, budget *int) (line []byte, long bool, err error) {
	line, long, crlf, err := readLineEnd(br, budget)
	if err == nil && !long && !crlf {
		return nil, false, bad(http.StatusBadRequest, "malformed chunked body: a line ends with LF, not CRLF")
	}
	return line, long, err
}

func readLineEnd(br *bufio.Reader, budget *int) (line []byte, long, crlf bool, err error) {
	line, err = br.ReadSlice('\n')
	*budget -= len(line)
	if errors.Is(err, bufio.ErrBufferFull) {
		// Keep the start (a header's name) and drop the rest.
		head := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if *budget < 0 {
				return nil, true, false, bad(http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
			}
			line, err = br.ReadSlice('\n')
			*budget -= len(line)
		}
		line, long = head, true
	}
	if err != nil {
		return nil, long, false, err
	}
	if *budget < 0 {
		return nil, long, false, bad(http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
	}
	if long {
		return line, true, true, nil
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line, crlf = line[:n-1], true
	}
	return line, false, crlf, nil
}

// tokenByte: the bytes of an RFC 9110 token (a header name).
var tokenByte = func() (t [256]bool) {
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	return t
}()

// splitField splits "name: value" and checks it: the name a token (no
// space before the colon: RFC 9112 5.1 says refuse it, and net/http's
// textproto would drop the space where a reader that does not would not
// see the header, so two parsers would frame the message two ways), the
// value without control bytes but tab.
func splitField(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name, value = line[:colon], line[colon+1:]
	for _, c := range name {
		if !tokenByte[c] {
			return nil, nil, false
		}
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, bytes.TrimSpace(value), true
}

var (
	hdrContentLength    = []byte("Content-Length")
	hdrTransferEncoding = []byte("Transfer-Encoding")
	hdrConnection       = []byte("Connection")
	hdrExpect           = []byte("Expect")
	hdrErrorType        = []byte("Lambda-Runtime-Function-Error-Type")
)

// readRequest reads one request from br into req, its body at most limit
// bytes (one more marks it too large). w receives "100 Continue" when the
// client waits for it. io.EOF: the client closed between requests.
func readRequest(br *bufio.Reader, w io.Writer, req *request, limit int) error {
	if err := readHead(br, req); err != nil {
		return err
	}
	return readBody(br, w, req, limit)
}

// readHead reads a request's line and headers into req; readBody reads
// its body once the caller knows it wants it (the path holds the
// environment's token) and how much of it.
func readHead(br *bufio.Reader, req *request) error {
	*req = request{contentLength: -1}
	budget := maxHeaderBytes
	line, long, err := readLine(br, &budget)
	if err != nil {
		return err
	}
	if long {
		return bad(http.StatusRequestURITooLong, "request line too long")
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return bad(http.StatusBadRequest, "malformed request line")
	}
	method, target, proto := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.close = true
	default:
		return bad(http.StatusHTTPVersionNotSupported, "HTTP/1.1 only")
	}
	if target[0] != '/' || bytes.ContainsAny(target, " \t") {
		return bad(http.StatusBadRequest, "the request target must be a path")
	}
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q] // the Runtime API takes no query
	}
	req.method, req.path = string(method), string(target)

	contentLength := -1
	chunked, expect := false, false
	for {
		line, long, err := readLine(br, &budget)
		if err != nil {
			return eofIsUnexpected(err)
		}
		if len(line) == 0 && !long {
			break
		}
		name, value, ok := splitField(line)
		if !ok {
			return bad(http.StatusBadRequest, "malformed header line: want a name (a token) and a colon, no control bytes")
		}
		switch {
		case bytes.EqualFold(name, hdrContentLength):
			if long {
				return bad(http.StatusBadRequest, "bad Content-Length")
			}
			n, ok := parseLength(value)
			if !ok || contentLength >= 0 && n != contentLength {
				return bad(http.StatusBadRequest, "bad Content-Length")
			}
			contentLength = n
		case bytes.EqualFold(name, hdrTransferEncoding):
			if long || !bytes.EqualFold(value, []byte("chunked")) || chunked {
				return bad(http.StatusNotImplemented, "unsupported Transfer-Encoding: use chunked or Content-Length")
			}
			chunked = true
		case bytes.EqualFold(name, hdrConnection):
			// A token list ("keep-alive, close"), as net/http reads it.
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(tok), []byte("close")) {
					req.close = true
				}
			}
		case bytes.EqualFold(name, hdrExpect):
			if !bytes.EqualFold(value, []byte("100-continue")) {
				return bad(http.StatusExpectationFailed, "unsupported Expect")
			}
			expect = true
		case bytes.EqualFold(name, hdrErrorType):
			if !long {
				req.errType = string(value)
			}
		}
	}
	if chunked {
		// With both, Transfer-Encoding wins (RFC 9112 6.3); such a
		// message may be an attempt to smuggle one: end the connection.
		if contentLength >= 0 {
			req.close = true
		}
		contentLength = -1
	}
	req.contentLength, req.chunked, req.expect = contentLength, chunked, expect
	return nil
}

// readBody reads the body readHead found, at most limit bytes; memory
// grows with the bytes that arrive, not with the size announced.
func readBody(br *bufio.Reader, w io.Writer, req *request, limit int) error {
	req.limit = limit
	if !req.chunked && req.contentLength <= 0 {
		return nil
	}
	if req.expect {
		if _, err := io.WriteString(w, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return err
		}
	}
	if !req.chunked {
		n := req.contentLength
		if n > limit {
			n = limit + 1
			req.tooLarge, req.close = true, true
		}
		var err error
		req.body, err = readAppend(br, nil, n)
		return eofIsUnexpected(err)
	}
	return readChunked(br, req, limit)
}

// readAppend appends n bytes from br to body, growing body at most
// twofold ahead of the bytes read: a size announced by the client is not
// allocated before the client sends it.
func readAppend(br *bufio.Reader, body []byte, n int) ([]byte, error) {
	const small = 64 << 10 // allocated at once: the usual payload, one allocation
	if n <= small {
		body = slices.Grow(body, n)
	}
	for n > 0 {
		if len(body) == cap(body) {
			body = slices.Grow(body, min(n, max(len(body), small)))
		}
		m := min(n, cap(body)-len(body))
		k, err := io.ReadFull(br, body[len(body):len(body)+m])
		body = body[:len(body)+k]
		n -= k
		if err != nil {
			return body, err
		}
	}
	return body, nil
}

// readChunked reads a chunked body and its trailers.
func readChunked(br *bufio.Reader, req *request, limit int) error {
	var body []byte
	// The framing's bytes (sizes, extensions, trailers) are bounded like
	// headers; aws-lambda-go's trailers carry an error's type and body.
	lines := maxHeaderBytes
	budget := &lines
	for {
		line, long, err := readCRLFLine(br, budget)
		if err != nil {
			return eofIsUnexpected(err)
		}
		if long {
			return bad(http.StatusBadRequest, "malformed chunk size")
		}
		if semi := bytes.IndexByte(line, ';'); semi >= 0 {
			line = line[:semi] // chunk extensions: none is understood
		}
		size, ok := parseHex(bytes.TrimSpace(line))
		if !ok {
			return bad(http.StatusBadRequest, "malformed chunk size")
		}
		if size == 0 {
			break
		}
		if len(body)+size > limit {
			// Keep limit+1 bytes to say it was too large; the rest is
			// not read, so the connection cannot go on.
			body, err = readAppend(br, body, limit+1-len(body))
			req.body, req.tooLarge, req.close = body, true, true
			return eofIsUnexpected(err)
		}
		if body, err = readAppend(br, body, size); err != nil {
			return eofIsUnexpected(err)
		}
		line, _, err = readCRLFLine(br, budget)
		if err != nil {
			return eofIsUnexpected(err)
		}
		if len(line) != 0 {
			return bad(http.StatusBadRequest, "malformed chunk: no CRLF after its data")
		}
	}
	for { // trailers
		line, long, err := readCRLFLine(br, budget)
		if err != nil {
			return eofIsUnexpected(err)
		}
		if len(line) == 0 && !long {
			break
		}
		name, value, ok := splitField(line)
		if !ok {
			return bad(http.StatusBadRequest, "malformed trailer line")
		}
		if !long && req.errType == "" && bytes.EqualFold(name, hdrErrorType) {
			req.errType = string(value)
		}
	}
	req.body = body
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a Content-Length: decimal digits only, below 1 GiB.
func parseLength(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < 1<<30
}

// parseHex parses a chunk size: hex digits, below 1 GiB.
func parseHex(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int(d)
	}
	return n, n < 1<<30
}

// response builds one answer in a buffer reused per connection: the
// status line, the headers added with header, and the body, written with
// one syscall by send.
type response struct {
	buf []byte
}

func (r *response) start(status int) {
	r.buf = append(r.buf[:0], "HTTP/1.1 "...)
	r.buf = strconv.AppendInt(r.buf, int64(status), 10)
	r.buf = append(r.buf, ' ')
	r.buf = append(r.buf, http.StatusText(status)...)
	r.buf = append(r.buf, "\r\n"...)
}

// header adds one header; CR, LF and other control bytes in the value
// become spaces (as net/http's header writer does), so a value from a
// caller cannot start a header of its own.
func (r *response) header(name, value string) {
	r.buf = append(r.buf, name...)
	r.buf = append(r.buf, ": "...)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < ' ' && c != '\t' || c == 0x7f {
			c = ' '
		}
		r.buf = append(r.buf, c)
	}
	r.buf = append(r.buf, "\r\n"...)
}

// send ends the headers, appends the body and writes it all.
func (r *response) send(w io.Writer, body []byte, closing bool) error {
	if closing {
		r.buf = append(r.buf, "Connection: close\r\n"...)
	}
	r.buf = append(r.buf, "Content-Length: "...)
	r.buf = strconv.AppendInt(r.buf, int64(len(body)), 10)
	r.buf = append(r.buf, "\r\n\r\n"...)
	r.buf = append(r.buf, body...)
	_, err := w.Write(r.buf)
	if cap(r.buf) > 64<<10 {
		r.buf = nil // do not keep a large payload's buffer for the connection's life
	}
	return err
}

// serve accepts connections until the listener is closed.
func (e *Env) serve() {
	var backoff time.Duration
	for {
		c, err := e.ln.Accept()
		if err != nil {
			select {
			case <-e.closed:
				return
			default:
			}
			var ne net.Error
			if !errors.Is(err, net.ErrClosed) && (isTemporary(err) || errors.As(err, &ne) && ne.Timeout()) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return
		}
		backoff = 0
		if !e.track(c, true) {
			c.Close()
			return
		}
		go e.serveConn(c)
	}
}

// isTemporary: an accept error worth retrying (out of file descriptors,
// a connection reset before it was accepted).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track adds (or removes) a connection to the set Close closes; false once
// the environment is closed.
func (e *Env) track(c net.Conn, add bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !add {
		delete(e.conns, c)
		return true
	}
	select {
	case <-e.closed:
		return false
	default:
	}
	e.conns[c] = struct{}{}
	return true
}

// serveConn serves one runtime connection's requests in turn.
func (e *Env) serveConn(c net.Conn) {
	defer func() {
		e.track(c, false)
		c.Close()
	}()
	br := bufio.NewReaderSize(c, 4096)
	x := &exchange{conn: c, pollCheck: e.pollCheck}
	defer x.stopTimer()
	// A new connection must send its first request promptly (net/http's
	// ReadHeaderTimeout did this): one that sends nothing would hold a
	// goroutine and a descriptor for the environment's life.
	_ = c.SetReadDeadline(time.Now().Add(e.readTimeout))
	for {
		// Between requests the runtime may run a handler for as long as
		// the function's timeout: wait for the next request's first byte
		// without a deadline, then bound the request's reading.
		if _, err := br.Peek(1); err != nil {
			return
		}
		if e.isClosed() {
			return // Close woke this read, or came between it and now
		}
		_ = c.SetReadDeadline(time.Now().Add(e.readTimeout))
		err := readHead(br, &x.req)
		if err == nil {
			if !e.authorized(x.req.path) {
				// Another container that found the port: answer before
				// reading (or inviting) a body, and close.
				_ = c.SetReadDeadline(time.Time{})
				x.req.close = true
				e.handle(x)
				x.lingerClose(br)
				return
			}
			limit, claimed := e.bodyLimit(x.req.path)
			err = readBody(br, c, &x.req, limit)
			if claimed != nil {
				e.mu.Lock()
				claimed.reading = false
				e.mu.Unlock()
			}
		}
		_ = c.SetReadDeadline(time.Time{})
		if err != nil {
			var b *errBadRequest
			if errors.As(err, &b) {
				x.req.close = true
				x.writeErr(b.status, "InvalidRequest", b.msg)
				x.lingerClose(br)
			}
			return
		}
		e.handle(x)
		if x.req.tooLarge {
			x.lingerClose(br)
		}
		if x.req.close || x.failed || e.isClosed() {
			return
		}
	}
}

func (e *Env) isClosed() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

// authorized: the path starts with this environment's token, compared in
// constant time (other containers on the bridge can reach the port).
func (e *Env) authorized(path string) bool {
	n := len(e.token)
	return len(path) > n+1 && path[n+1] == '/' &&
		subtle.ConstantTimeCompare([]byte(path[1:n+1]), []byte(e.token)) == 1
}

// smallBody bounds a request body that is not an in-flight invocation's
// response or error (init/error keeps 64 KB of it).
const smallBody = 64 << 10

// bodyLimit is how much of an authorised request's body is read: up to
// MaxPayload only for an invocation in flight here and only on one
// connection at a time (claimed, which the caller releases once the body
// is read), so that a runtime cannot make the agent buffer 6 MB per
// connection, for ids it made up or many times for one id: the memory
// held is at most MaxPayload per invocation in flight.
func (e *Env) bodyLimit(path string) (limit int, claimed *pending) {
	rest, ok := strings.CutPrefix(path[len(e.token)+1:], "/"+APIVersion+"/runtime/invocation/")
	if !ok {
		return smallBody, nil
	}
	id, what, _ := strings.Cut(rest, "/")
	if what != "response" && what != "error" {
		return smallBody, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.inflight[id]
	if !ok || p.reading {
		return smallBody, nil
	}
	p.reading = true
	return MaxPayload, p
}

// lingerClose ends a connection whose request was answered before its
// body was read: closing with unread bytes would send a reset that can
// destroy the answer before the client reads it (net/http's
// closeWriteAndWait). It shuts the write side, then reads and drops what
// the client still sends for a short while, bounded in bytes.
func (x *exchange) lingerClose(br *bufio.Reader) {
	if x.failed {
		return
	}
	if cw, ok := x.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = x.conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, br, 2*MaxPayload)
}

// exchange is one connection's current request and its answer.
type exchange struct {
	conn      net.Conn
	req       request
	resp      response
	failed    bool // writing the answer failed, or the runtime left: the connection is done
	timer     *time.Timer
	pollCheck time.Duration
}

// pollTimer returns a channel that fires after pollCheck, for a waiting
// invocation/next to check its runtime is still there (one timer per
// connection, reset per wait).
func (x *exchange) pollTimer() <-chan time.Time {
	if x.timer == nil {
		x.timer = time.NewTimer(x.pollCheck)
	} else {
		x.timer.Reset(x.pollCheck)
	}
	return x.timer.C
}

func (x *exchange) stopTimer() {
	if x.timer != nil {
		x.timer.Stop()
	}
}

func (x *exchange) write(body []byte) {
	if err := x.resp.send(x.conn, body, x.req.close); err != nil {
		x.failed = true
	}
}

// writeErr answers with an ErrorDoc.
func (x *exchange) writeErr(status int, typ, msg string) {
	body, _ := jsonMarshal(ErrorDoc{ErrorMessage: msg, ErrorType: typ})
	x.resp.start(status)
	x.resp.header("Content-Type", "application/json")
	x.write(body)
}
