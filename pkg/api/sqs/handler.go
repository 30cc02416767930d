// Package sqs serves the Amazon SQS wire protocols on Orch's endpoint: AWS
// JSON 1.0 (POST /, X-Amz-Target: AmazonSQS.<Action>; aws-sdk-go-v2, boto3,
// pip awscli) and query/XML (Action=<Action> in the query string or a form
// body, on / or a queue URL path; Debian's awscli 2.9 and older SDKs). Both
// decode into one input, run against pkg/queue, and encode the protocol's
// result or error (JSON __type plus x-amzn-query-error; XML ErrorResponse).
//
// Requests are SigV4-verified (pkg/api/awsauth) before anything else; a
// server that does not own the queues forwards the request, body and Host
// unchanged, to the replica that does.
//
// Mounting:
//
//	h := sqs.NewHandler(svc, verifier, logger)
//	if sqs.IsSQSRequest(r) { h.ServeHTTP(w, r) }
package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/queue"
)

// MaxBodyBytes bounds a request body: a 1 MiB batch with JSON or form
// escaping fits comfortably.
const MaxBodyBytes = 8 << 20

const targetPrefix = "AmazonSQS."

// forwardedHeader marks a request one replica forwarded to the owner.
const forwardedHeader = "X-Orch-Forwarded"

// Handler serves both SQS protocols.
type Handler struct {
	svc    *queue.Service
	verify awsauth.Verifier
	log    *slog.Logger

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy
}

// NewHandler returns the SQS endpoint. verify may be nil to accept unsigned
// requests (tests, or a deliberately open development server).
func NewHandler(svc *queue.Service, verify awsauth.Verifier, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{svc: svc, verify: verify, log: logger.With("component", "sqs"), proxies: map[string]*httputil.ReverseProxy{}}
}

// IsSQSRequest reports whether r is an SQS call: an X-Amz-Target of
// AmazonSQS.*, or an Action= naming an SQS action in the query string or a
// form body. A form body is read and put back, so r stays readable.
func IsSQSRequest(r *http.Request) bool {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return strings.HasPrefix(t, targetPrefix)
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return Actions[a]
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || r.Body == nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), rest), rest}
	if err != nil {
		return false
	}
	return Actions[formAction(b)]
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

// proto is the wire protocol of a request.
type proto int

const (
	protoJSON proto = iota
	protoQuery
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	p := protoQuery
	target := r.Header.Get("X-Amz-Target")
	if target != "" {
		p = protoJSON
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		h.writeErr(w, p, reqID, queue.ErrInvalidParameterValue.With("The request body is too large or unreadable: %v", err))
		return
	}
	if h.verify != nil {
		if err := h.verify.Verify(r, body); err != nil {
			h.writeErr(w, p, reqID, err)
			return
		}
	}
	if !h.svc.Owned() && r.Header.Get(forwardedHeader) == "" {
		if u, _ := h.svc.OwnerURL(r.Context()); u != "" && u != h.svc.SelfURL() {
			h.forward(w, r, body, u)
			return
		}
	}

	var action string
	var in *input
	if p == protoJSON {
		action = strings.TrimPrefix(target, targetPrefix)
		in, err = decodeJSON(body)
	} else {
		form := r.URL.Query()
		if r.Method == http.MethodPost && len(body) > 0 {
			bf, perr := url.ParseQuery(string(body))
			if perr != nil {
				err = queue.ErrInvalidParameterValue.With("The form body is malformed: %v", perr)
			}
			for k, v := range bf {
				form[k] = v
			}
		}
		action = form.Get("Action")
		if err == nil {
			in, err = decodeQuery(form)
		}
	}
	if err != nil {
		h.writeErr(w, p, reqID, err)
		return
	}
	if action == "" {
		h.writeErr(w, p, reqID, queue.ErrMissingParameter.With("The request must contain the parameter Action."))
		return
	}
	if !Actions[action] {
		h.writeErr(w, p, reqID, errInvalidAction(action))
		return
	}
	c := &call{action: action, in: in, baseURL: baseURL(r), path: r.URL.Path}
	ctx := r.Context()
	if id := awsauth.AccessKeyID(r); id != "" {
		ctx = queue.WithSender(ctx, id)
	}
	out, err := dispatch(ctx, h.svc, c)
	if errors.Is(err, queue.ErrNotOwner) {
		if u, _ := h.svc.OwnerURL(r.Context()); u != "" && r.Header.Get(forwardedHeader) == "" {
			h.forward(w, r, body, u)
			return
		}
		err = queue.ErrServiceUnavailable
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the client went away
		}
		h.writeErr(w, p, reqID, err)
		return
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	if p == protoJSON {
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Write(renderXML(action, out, reqID))
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	return scheme + "://" + host
}

// writeErr writes err in the protocol's error format.
func (h *Handler) writeErr(w http.ResponseWriter, p proto, reqID string, err error) {
	var code, query, msg string
	status := http.StatusBadRequest
	sender := true
	var ae *awsauth.Error
	var qe *queue.Error
	switch {
	case errors.As(err, &ae):
		code, query, msg, status = ae.Code, ae.Code, ae.Message, ae.Status
		sender = status < 500
	case errors.As(err, &qe):
		code, query, msg, status, sender = qe.Code, qe.QueryCode, qe.Message, qe.HTTPStatus(), qe.Sender
	default:
		h.log.Error("sqs request failed", "err", err)
		qe = queue.ErrInternal
		code, query, msg, status, sender = qe.Code, qe.QueryCode, qe.Message, qe.Status, false
	}
	if status >= 500 {
		h.log.Warn("sqs request failed", "code", code, "err", msg)
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	if p == protoJSON {
		fault := "Sender"
		if !sender {
			fault = "Receiver"
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-query-error", query+";"+fault)
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write(renderXMLError(query, msg, sender, reqID))
}

// forward sends the request to the replica owning the queues, Host and
// body unchanged (so queue URLs and signatures stay valid).
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, body []byte, owner string) {
	h.mu.Lock()
	px := h.proxies[owner]
	if px == nil {
		u, err := url.Parse(owner)
		if err != nil {
			h.mu.Unlock()
			h.writeErr(w, protoOf(r), newRequestID(), queue.ErrServiceUnavailable)
			return
		}
		px = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Host = pr.In.Host
				pr.Out.Header.Set(forwardedHeader, "1")
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				h.log.Warn("forwarding an SQS request to the queue owner failed", "owner", owner, "err", err)
				h.writeErr(w, protoOf(r), newRequestID(), queue.ErrServiceUnavailable)
			},
		}
		h.proxies[owner] = px
	}
	h.mu.Unlock()
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	px.ServeHTTP(w, r2)
}

func protoOf(r *http.Request) proto {
	if r.Header.Get("X-Amz-Target") != "" {
		return protoJSON
	}
	return protoQuery
}

func newRequestID() string {
	var b [16]byte
	fillRandom(b[:])
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}
