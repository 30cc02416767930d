package lambdart

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime"

	"errors"
	"github.com/orch-project/orch/internal/testutil"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// What aws-lambda-go's net/http client sends: next, a response posted
// chunked with its trailers, and an error with the error type header.
var runtimeRequests = []string{
	"GET /tok/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 172.17.0.1:4000\r\nUser-Agent: aws-lambda-go/go1.26\r\nAccept-Encoding: gzip\r\n\r\n",
	"POST /tok/2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nHost: h\r\nUser-Agent: aws-lambda-go/go1.26\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nTrailer: Lambda-Runtime-Function-Error-Body, Lambda-Runtime-Function-Error-Type\r\nAccept-Encoding: gzip\r\n\r\n7\r\n{\"n\":2}\r\n0\r\n\r\n",
	"POST /tok/2018-06-01/runtime/invocation/abc/error HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nLambda-Runtime-Function-Error-Type: Runtime.Panic\r\n\r\n",
	"POST /tok/2018-06-01/runtime/invocation/abc/error HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nLambda-Runtime-Function-Error-Type: Unhandled\r\n\r\n{}",
	"POST /tok/2018-06-01/runtime/init/error HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{}",
	"GET /tok/2018-06-01/runtime/invocation/next?x=1 HTTP/1.0\r\n\r\n",
}

// checkAgainstNetHTTP reads raw with readRequest and net/http's
// ReadRequest; where both accept it they must agree on what the Runtime
// API uses (method, path, body, the error type).
func checkAgainstNetHTTP(t *testing.T, raw string, limit int) (request, error) {
	t.Helper()
	var got request
	var cont bytes.Buffer
	err := readRequest(bufio.NewReaderSize(strings.NewReader(raw), 4096), &cont, &got, limit)
	want, werr := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil || werr != nil || got.tooLarge {
		return got, err
	}
	wantBody, berr := io.ReadAll(want.Body)
	if berr != nil {
		return got, err // net/http rejects the body (its chunk syntax is stricter)
	}
	path := want.RequestURI
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if got.method != want.Method || got.path != path || !bytes.Equal(got.body, wantBody) {
		t.Fatalf("%q:\ngot  %s %s body %q\nwant %s %s body %q", raw, got.method, got.path, got.body, want.Method, path, wantBody)
	}
	wantType := want.Header.Get("Lambda-Runtime-Function-Error-Type")
	if wantType == "" {
		wantType = want.Trailer.Get("Lambda-Runtime-Function-Error-Type")
	}
	if got.errType != wantType {
		t.Fatalf("%q: error type %q, want %q", raw, got.errType, wantType)
	}
	if wantClose := want.Close || want.ProtoMinor == 0; wantClose && !got.close {
		t.Fatalf("%q: the connection should close after it", raw)
	}
	return got, nil
}

func TestReadRequestReadsWhatRuntimesSend(t *testing.T) {
	for _, raw := range runtimeRequests {
		if _, err := checkAgainstNetHTTP(t, raw, MaxPayload); err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
	}
	var got request
	var cont bytes.Buffer
	if err := readRequest(bufio.NewReader(strings.NewReader(runtimeRequests[4])), &cont, &got, MaxPayload); err != nil || cont.String() != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("Expect: 100-continue: %v, wrote %q", err, cont.String())
	}
}

func TestReadRequestKeepsAliveAcrossRequests(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(runtimeRequests[1] + runtimeRequests[0]))
	var req request
	for i, want := range []string{"POST", "GET"} {
		if err := readRequest(br, io.Discard, &req, MaxPayload); err != nil || req.method != want || req.close {
			t.Fatalf("request %d: %v %s close=%v, want %s kept alive", i, err, req.method, req.close, want)
		}
	}
	if err := readRequest(br, io.Discard, &req, MaxPayload); err != io.EOF {
		t.Fatalf("after the last request: %v, want io.EOF", err)
	}
}

func TestReadRequestRefusesWhatItCannotRead(t *testing.T) {
	long := strings.Repeat("a", 5000)
	for raw, status := range map[string]int{
		"GET /" + long + " HTTP/1.1\r\n\r\n": http.StatusRequestURITooLong,
		"GET / HTTP/2.0\r\n\r\n":             http.StatusHTTPVersionNotSupported,
		"GET\r\n\r\n":                        http.StatusBadRequest,
		"GET * HTTP/1.1\r\n\r\n":             http.StatusBadRequest,
		"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab":                http.StatusBadRequest,
		"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n":                                      http.StatusBadRequest,
		"POST / HTTP/1.1\r\nContent-Length: 1" + long + "\r\n\r\n":                           http.StatusBadRequest,
		"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n":                                 http.StatusNotImplemented,
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n":                        http.StatusBadRequest,
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n":          http.StatusBadRequest,
		"GET / HTTP/1.1\r\nno colon\r\n\r\n":                                                 http.StatusBadRequest,
		"GET / HTTP/1.1\r\n folded: x\r\n\r\n":                                               http.StatusBadRequest,
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("b", maxHeaderBytes) + "\r\n\r\n":           http.StatusRequestHeaderFieldsTooLarge,
		"POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\na":                 http.StatusExpectationFailed,
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon trailer\r\n\r\n": http.StatusBadRequest,
	} {
		var req request
		err := readRequest(bufio.NewReaderSize(strings.NewReader(raw), 4096), io.Discard, &req, MaxPayload)
		var b *errBadRequest
		if !errors.As(err, &b) || b.status != status {
			t.Errorf("%.60q: %v, want status %d", raw, err, status)
		}
	}
	// A header longer than the buffer but within the limit (the X-Ray
	// error cause) is skipped, not refused.
	raw := "POST / HTTP/1.1\r\nLambda-Runtime-Function-Xray-Error-Cause: " + strings.Repeat("c", 100000) + "\r\nContent-Length: 2\r\n\r\n{}"
	if got, err := checkAgainstNetHTTP(t, raw, MaxPayload); err != nil || string(got.body) != "{}" {
		t.Fatalf("a long header: %v body %q", err, got.body)
	}
	// Cut short: an unexpected EOF, not a clean end.
	var req request
	if err := readRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")), io.Discard, &req, MaxPayload); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a short body: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadRequestMarksATooLargeBody(t *testing.T) {
	for _, raw := range []string{
		"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n0123456789a",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n",
	} {
		var req request
		if err := readRequest(bufio.NewReader(strings.NewReader(raw)), io.Discard, &req, 10); err != nil || !req.tooLarge || !req.close || len(req.body) != 11 {
			t.Fatalf("%q: %v tooLarge=%v close=%v body %d bytes, want too large, closing, 11 bytes read", raw, err, req.tooLarge, req.close, len(req.body))
		}
	}
}

func TestResponseHeaderValuesCannotSplitTheResponse(t *testing.T) {
	var r response
	r.start(http.StatusOK)
	r.header("Lambda-Runtime-Client-Context", "a\r\nX-Evil: 1")
	var out bytes.Buffer
	if err := r.send(&out, []byte("{}"), false); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(&out), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Evil") != "" || resp.Header.Get("Lambda-Runtime-Client-Context") != "a  X-Evil: 1" || string(body) != "{}" {
		t.Fatalf("headers %v body %q", resp.Header, body)
	}
}

func FuzzReadRequest(f *testing.F) {
	for _, raw := range runtimeRequests {
		f.Add(raw)
	}
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	f.Add("POST /x HTTP/1.1\nContent-Length: 3\n\nabc")
	// The smuggling and exhaustion shapes the review looked for.
	f.Add("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
	f.Add("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
	f.Add("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nX: a\r\n  folded\r\nContent-Length: 1\r\n\r\na")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\na\r\n0\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3fffffff\r\nab")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", 5000) + "\r\na\r\n0\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\nLambda-Runtime-Function-Error-Type: T\r\nTransfer-Encoding: x\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n X: folded\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nX: a\rb\r\nY: \x00\r\n\r\n")
	f.Add("GET /a\r\nb HTTP/1.1\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := checkAgainstNetHTTP(t, raw, 1<<16)
		if err == nil && got.tooLarge && len(got.body) != 1<<16+1 {
			t.Fatalf("too large with %d bytes", len(got.body))
		}
	})
}

// A runtime connection that closed while its invocation/next waited does
// not swallow an invocation: it goes to the next poll.
func TestAPollWhoseRuntimeLeftTakesNoInvocation(t *testing.T) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	next := "GET /" + env.token + "/" + APIVersion + "/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
	dead, err := net.Dial("tcp", env.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(dead, next); err != nil {
		t.Fatal(err)
	}
	select {
	case <-env.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the first poll never arrived")
	}
	dead.Close()
	done := make(chan Result, 1)
	go func() {
		r, _ := env.Invoke(context.Background(), Invocation{ID: "req-requeued", Payload: []byte(`{}`), Deadline: time.Now().Add(10 * time.Second)})
		done <- r
	}()
	live, err := net.Dial("tcp", env.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	_ = live.SetDeadline(time.Now().Add(8 * time.Second))
	if _, err := io.WriteString(live, next); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(live)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the live poll got no invocation: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); resp.StatusCode != 200 || id != "req-requeued" {
		t.Fatalf("live poll: %d request id %q, want 200 req-requeued", resp.StatusCode, id)
	}
	// Answer it, chunked as aws-lambda-go does, on the same connection.
	post := "POST /" + env.token + "/" + APIVersion + "/runtime/invocation/req-requeued/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{\"ok\":1}\r\n0\r\n\r\n"
	if _, err := io.WriteString(live, post); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("posting the response: %v %v", err, resp)
	}
	select {
	case r := <-done:
		if string(r.Payload) != `{"ok":1}` || r.FunctionError != "" {
			t.Fatalf("result %q %q", r.Payload, r.FunctionError)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Invoke never returned")
	}
}

// A request's announced body size costs nothing until the bytes arrive:
// a container (its own or, without the token, any other on the bridge)
// must not make the agent allocate 6 MB per header line.
func TestAnnouncedBodySizeAllocatesNothingUpFront(t *testing.T) {
	for _, raw := range []string{
		"POST /t/2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nContent-Length: 6000000\r\n\r\nab",
		"POST /t/2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5b8d80\r\nab",
	} {
		var req request
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := readRequest(bufio.NewReaderSize(strings.NewReader(raw), 4096), io.Discard, &req, MaxPayload)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%.50q: %v, want io.ErrUnexpectedEOF", raw, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%.50q: %d bytes allocated for a 2-byte body", raw, grew)
		}
	}
}

// dialEnv opens a raw connection to env with a deadline.
func dialEnv(t *testing.T, env *Env) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", env.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(8 * time.Second))
	return c
}

// Without the token a request is refused before its body is read (and
// before "100 Continue" invites it).
func TestARequestWithoutTheTokenIsRefusedBeforeItsBody(t *testing.T) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	for _, head := range []string{
		"POST /wrongtoken/2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: 6000000\r\n\r\n",
		"POST /wrongtoken/2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6000000\r\n\r\n",
	} {
		c := dialEnv(t, env)
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.40q: no answer before the body: %v", head, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !resp.Close {
			t.Fatalf("%.40q: %d close=%v, want 403 and the connection closed", head, resp.StatusCode, resp.Close)
		}
	}
}

// A connection that never sends a request is closed after readTimeout,
// as net/http's ReadHeaderTimeout did; otherwise each holds an agent
// goroutine and descriptor for the environment's life.
func TestAConnectionThatSendsNothingIsClosed(t *testing.T) {
	defer setDuringTest(&readTimeout, 200*time.Millisecond)()
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	c := dialEnv(t, env)
	var b [1]byte
	if n, err := c.Read(b[:]); n != 0 || err != io.EOF {
		t.Fatalf("idle connection: read %d %v, want EOF from the agent", n, err)
	}
}

// "Connection: keep-alive, close" asks to close, as net/http reads it.
func TestConnectionCloseInATokenList(t *testing.T) {
	for _, v := range []string{"close", "Close", "keep-alive, close", "close ,TE"} {
		var req request
		raw := "GET / HTTP/1.1\r\nConnection: " + v + "\r\n\r\n"
		if err := readRequest(bufio.NewReader(strings.NewReader(raw)), io.Discard, &req, MaxPayload); err != nil || !req.close {
			t.Errorf("Connection: %s: %v close=%v, want close", v, err, req.close)
		}
	}
}

func setDuringTest[T any](p *T, v T) func() {
	old := *p
	*p = v
	return func() { *p = old }
}

// A poll whose runtime left ends (its goroutine and descriptor with it)
// even when no invocation comes to notice it, as net/http's request
// context did.
func TestAPollWhoseRuntimeLeftEndsWithoutAnInvocation(t *testing.T) {
	defer setDuringTest(&pollCheck, 50*time.Millisecond)()
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	for i := 0; i < 20; i++ {
		c := dialEnv(t, env)
		if _, err := io.WriteString(c, "GET /"+env.token+"/"+APIVersion+"/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	testutil.WaitFor(t, 10*time.Second, "the dead polls' connections to end", func() (bool, string) {
		env.mu.Lock()
		n := len(env.conns)
		env.mu.Unlock()
		return n == 0, fmt.Sprintf("%d connections still served", n)
	})
}

// Framing that two parsers could read two ways is refused: a header name
// that is not a token ("Transfer-Encoding : chunked" was ignored here,
// its body then read as the next request, while net/http's textproto
// drops the space and reads it chunked; RFC 9112 5.1 says refuse it),
// control bytes in a value, and a chunk's framing without CR (net/http
// refuses bare LF there since Go 1.24.2).
func TestReadRequestRefusesFramingNetHTTPRefuses(t *testing.T) {
	for _, raw := range []string{
		"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length\t: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nX(y): 1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\n",
	} {
		var req request
		err := readRequest(bufio.NewReader(strings.NewReader(raw)), io.Discard, &req, MaxPayload)
		var b *errBadRequest
		if !errors.As(err, &b) || b.status != http.StatusBadRequest {
			t.Errorf("%q: %v, want a 400", raw, err)
		}
	}
}

// A response over 6 MB, posted as aws-lambda-go's net/http client posts
// it (chunked, streaming), is answered 413 and the client reads that
// answer (not a reset from a close with its body unread); the invocation
// ends as Function.ResponseSizeTooLarge.
func TestATooLargeResponseIsAnswered413(t *testing.T) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	base := "http://" + env.Address("") + "/" + APIVersion + "/runtime/"
	done := make(chan Result, 1)
	go func() {
		r, _ := env.Invoke(context.Background(), Invocation{ID: "req-big", Payload: []byte(`{}`), Deadline: time.Now().Add(20 * time.Second)})
		done <- r
	}()
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get(base + "invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// An io.Reader that is not a bytes.Reader: sent chunked, like
	// aws-lambda-go's errorCapturingReader.
	body := io.MultiReader(strings.NewReader(`"`), strings.NewReader(strings.Repeat("x", MaxPayload+1<<20)))
	resp, err = client.Post(base+"invocation/req-big/response", "application/json", body)
	if err != nil {
		t.Fatalf("posting 7 MB: %v, want a 413 answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("posting 7 MB: %d, want 413", resp.StatusCode)
	}
	select {
	case r := <-done:
		if r.ErrorType != "Function.ResponseSizeTooLarge" {
			t.Fatalf("result %s %q", r.ErrorType, r.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke never returned")
	}
}

// A runtime that pipelines its next request behind a waiting poll is not
// taken for gone (the MSG_PEEK sees its bytes, not an end): both polls
// get their invocation, in order, on the one connection.
func TestPipelinedPollsAreNotTakenForARuntimeThatLeft(t *testing.T) {
	defer setDuringTest(&pollCheck, 20*time.Millisecond)()
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	next := "GET /" + env.token + "/" + APIVersion + "/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
	c := dialEnv(t, env)
	if _, err := io.WriteString(c, next+next); err != nil {
		t.Fatal(err)
	}
	select {
	case <-env.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the first poll never arrived")
	}
	testutil.WaitFor(t, 5*time.Second, "the waiting poll to look at its connection a few times", func() (bool, string) {
		n := env.pollChecks.Load()
		return n >= 3, fmt.Sprintf("%d checks", n)
	})
	ids := []string{"req-1", "req-2"}
	for _, id := range ids {
		go env.Invoke(context.Background(), Invocation{ID: id, Payload: []byte(`{}`), Deadline: time.Now().Add(20 * time.Second)})
		// One at a time, so that their order is known.
		testutil.WaitFor(t, 5*time.Second, id+" handed over", func() (bool, string) {
			env.mu.Lock()
			defer env.mu.Unlock()
			_, ok := env.inflight[id]
			return ok, "not in flight"
		})
	}
	br := bufio.NewReader(c)
	for _, id := range ids {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("waiting for %s: %v", id, err)
		}
		io.Copy(io.Discard, resp.Body)
		if got := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); resp.StatusCode != 200 || got != id {
			t.Fatalf("%d %q, want 200 %s", resp.StatusCode, got, id)
		}
	}
}

// Closing the environment answers a waiting poll 410, as net/http's
// Shutdown let it, rather than cutting the connection under it.
func TestCloseAnswersAWaitingPoll410(t *testing.T) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dialEnv(t, env)
	if _, err := io.WriteString(c, "GET /"+env.token+"/"+APIVersion+"/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-env.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the poll never arrived")
	}
	env.Close("test over")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the waiting poll: %v, want a 410", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("the waiting poll: %d, want 410", resp.StatusCode)
	}
	testutil.WaitFor(t, 5*time.Second, "the connection to end", func() (bool, string) {
		env.mu.Lock()
		n := len(env.conns)
		env.mu.Unlock()
		return n == 0, fmt.Sprintf("%d connections still served", n)
	})
}

// Only one body per invocation in flight is read up to 6 MB at a time: a
// runtime that opens many connections posting large bodies for the same
// id must not make the agent hold 6 MB per connection. A second post
// while the first is read gets a 409 after 64 KB, and the invocation
// stays for the first.
func TestOneLargeBodyAtATimePerInvocation(t *testing.T) {
	env, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close("test over")
	done := make(chan Result, 1)
	go func() {
		r, _ := env.Invoke(context.Background(), Invocation{ID: "req-one", Payload: []byte(`{}`), Deadline: time.Now().Add(20 * time.Second)})
		done <- r
	}()
	prefix := "/" + env.token + "/" + APIVersion + "/runtime/"
	a := dialEnv(t, env)
	if _, err := io.WriteString(a, "GET "+prefix+"invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	abr := bufio.NewReader(a)
	resp, err := http.ReadResponse(abr, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	post := "POST " + prefix + "invocation/req-one/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	// The first post starts its body and holds.
	if _, err := io.WriteString(a, post+"8\r\n{\"ok\""); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the first post's body to be read", func() (bool, string) {
		env.mu.Lock()
		defer env.mu.Unlock()
		p := env.inflight["req-one"]
		return p != nil && p.reading, "not reading yet"
	})
	b := dialEnv(t, env)
	if _, err := io.WriteString(b, post+"20000\r\n"+strings.Repeat("x", 0x20000)+"\r\n0\r\n\r\n"); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(b), nil)
	if err != nil {
		t.Fatalf("the second post: %v, want a 409", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("the second post: %d, want 409", resp.StatusCode)
	}
	// The first post completes and is the invocation's result.
	if _, err := io.WriteString(a, ":1}\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(abr, nil); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the first post: %v %v", err, resp)
	}
	select {
	case r := <-done:
		if string(r.Payload) != `{"ok":1}` || r.FunctionError != "" {
			t.Fatalf("result %q %q", r.Payload, r.FunctionError)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke never returned")
	}
}
