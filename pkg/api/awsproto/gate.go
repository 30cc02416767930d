package awsproto

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Gate stands in front of every AWS protocol adapter on the endpoint. It
// exists because adapters must read a request's body to verify its
// signature (SigV4 covers the payload) and, for the query protocol, to
// find out which API a form POST is for: without a gate, anyone could
// make the server buffer megabytes per unsigned request. The gate checks
// what can be checked from the headers alone (Precheck: the access key
// exists, the date is in range) before any body byte is read, and bounds
// the bytes of all bodies in flight (Bytes), answering 503 SlowDown with
// Retry-After when they are all taken.
type Gate struct {
	// Precheck rejects a request from its headers alone; nil accepts
	// every request (a deliberately open development server).
	Precheck func(*http.Request) error
	// Bytes bounds the bodies being read or held by all AWS requests at
	// once; nil: unbounded.
	Bytes *ByteLimiter
	// MaxBody is the most one request may claim from Bytes (its body is
	// read at most this far); default 8 MiB.
	MaxBody int64
}

// LooksLikeAWS reports whether r is shaped like a call of an AWS protocol:
// an X-Amz-Target, a SigV4 Authorization header or presigned query, an
// Action parameter, or a form POST. Such requests go through the Gate and,
// when no adapter claims them, get AWS's own "unknown operation" error
// instead of a text/plain 404 SDKs cannot parse.
func LooksLikeAWS(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") {
		return true
	}
	q := r.URL.Query()
	if q.Get("Action") != "" || q.Get("X-Amz-Signature") != "" {
		return true
	}
	// A form POST is AWS's query protocol, except the dashboard's own
	// forms (sign-in, scale, rollback), which browsers post to /ui/.
	return r.Method == http.MethodPost && isForm(r) && !strings.HasPrefix(r.URL.Path, "/ui/")
}

// Admit runs the precheck and reserves body bytes for r. On success the
// caller must call release when the request is done; on failure the error
// is an *Error ready to write.
func (g *Gate) Admit(r *http.Request) (release func(), err error) {
	if g.Precheck != nil {
		if err := g.Precheck(r); err != nil {
			return nil, AsError(err, nil)
		}
	}
	if g.Bytes == nil || r.Body == nil || r.Body == http.NoBody {
		return func() {}, nil
	}
	max := g.MaxBody
	if max <= 0 {
		max = 8 << 20
	}
	n := r.ContentLength
	if n < 0 || n > max {
		n = max // unknown length (chunked) or over the limit: reads stop at max
	}
	if g.Bytes.TryAcquire(n) {
		return func() { g.Bytes.Release(n) }, nil
	}
	// Only a request that has to wait pays for a timer.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if !g.Bytes.Acquire(ctx, n) {
		return nil, ErrSlowDown
	}
	return func() { g.Bytes.Release(n) }, nil
}

// ErrSlowDown answers a request the server has no room for right now.
var ErrSlowDown = &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable,
	Message: "The server is busy reading other requests' bodies; retry after a short wait."}

// WriteError writes e in the protocol r speaks (JSON when it names an
// X-Amz-Target, else query/XML), for answers given before any adapter
// has claimed r. A 503 carries Retry-After.
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	if e.HTTPStatus() == http.StatusServiceUnavailable || e.HTTPStatus() == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	reqID := NewRequestID()
	e = ServiceAuthErrorFor(r, e)
	if IsLambda(r) {
		RESTJSONDialect{}.WriteError(w, reqID, e)
		return
	}
	if IsJSON(r) {
		JSONDialect{Version: "1.0"}.WriteError(w, reqID, e)
		return
	}
	XMLDialect{}.WriteError(w, reqID, e)
}

// UnknownOperation is the error for an AWS-shaped request no adapter
// claims: AWS answers 400 UnknownOperationException in the JSON protocols
// and InvalidAction in the query protocol.
func UnknownOperation(r *http.Request) *Error {
	if t := Target(r); t != "" {
		return &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: "The operation " + t + " is not supported by this server (X-Amz-Target names no API it serves)."}
	}
	action := r.URL.Query().Get("Action")
	if action == "" {
		if b, err := ReadBody(r, 64<<10); err == nil || len(b) > 0 {
			action = formAction(b)
		}
	}
	if action == "" {
		return &Error{Code: "MissingAction", Status: http.StatusBadRequest,
			Message: "The request names no Action: add Action=<operation> to the query string or form body."}
	}
	return &Error{Code: "InvalidAction", Status: http.StatusBadRequest,
		Message: "The action " + action + " is not valid for this endpoint: no API served here has it."}
}

// ByteLimiter is a counting semaphore over bytes.
type ByteLimiter struct {
	mu      sync.Mutex
	free    int64
	total   int64
	waiters int           // Acquires waiting on wake
	wake    chan struct{} // closed and replaced on a release while some wait
}

// NewByteLimiter returns a limiter with total bytes.
func NewByteLimiter(total int64) *ByteLimiter {
	return &ByteLimiter{free: total, total: total, wake: make(chan struct{})}
}

// TryAcquire takes n bytes if they are free now.
func (l *ByteLimiter) TryAcquire(n int64) bool {
	if n > l.total {
		n = l.total
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.free >= n {
		l.free -= n
		return true
	}
	return false
}

// Acquire takes n bytes, waiting until they are free or ctx ends (false).
// A request for more than the total waits for all of it.
func (l *ByteLimiter) Acquire(ctx context.Context, n int64) bool {
	if n > l.total {
		n = l.total
	}
	for {
		l.mu.Lock()
		if l.free >= n {
			l.free -= n
			l.mu.Unlock()
			return true
		}
		l.waiters++
		wake := l.wake
		l.mu.Unlock()
		var done bool
		select {
		case <-wake:
		case <-ctx.Done():
			done = true
		}
		l.mu.Lock()
		l.waiters--
		l.mu.Unlock()
		if done {
			return false
		}
	}
}

// Release returns n bytes.
func (l *ByteLimiter) Release(n int64) {
	if n > l.total {
		n = l.total
	}
	l.mu.Lock()
	l.free += n
	if l.waiters > 0 { // wake them all; each retries (no channel per request otherwise)
		close(l.wake)
		l.wake = make(chan struct{})
	}
	l.mu.Unlock()
}

// InUse is the number of bytes taken.
func (l *ByteLimiter) InUse() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total - l.free
}
