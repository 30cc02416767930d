// Package sqs serves the Amazon SQS wire protocols on Orch's endpoint: AWS
// JSON 1.0 (POST /, X-Amz-Target: AmazonSQS.<Action>; aws-sdk-go-v2, boto3,
// pip awscli) and query/XML (Action=<Action> in the query string or a form
// body, on / or a queue URL path; Debian's awscli 2.9 and older SDKs). Both
// decode into one input; one table (actions) maps each action to a small
// handler that checks it, calls pkg/queue and builds the output, which
// renders itself in either protocol. Errors from pkg/queue carry neutral
// kinds; errors.go maps each to its SQS code, query code and HTTP status.
//
// The shared plumbing (request ids, error shapes, SigV4, forwarding to the
// replica that owns a queue's shard, reading the body once) is pkg/api/awsproto.
//
// Mounting (Handler is an awsproto.Adapter):
//
//	h := sqs.NewHandler(broker, verifier, logger)
//	if h.Claims(r) { h.ServeHTTP(w, r) }
package sqs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// MaxBodyBytes bounds a request body: a 1 MiB batch with JSON or form
// escaping fits comfortably.
const MaxBodyBytes = 8 << 20

const targetPrefix = "AmazonSQS."

// The two wire dialects SQS speaks.
var (
	jsonDialect = awsproto.JSONDialect{Version: "1.0", TypePrefix: "com.amazonaws.sqs#", QueryCompatible: true}
	xmlDialect  = awsproto.XMLDialect{Namespace: "http://queue.amazonaws.com/doc/2012-11-05/"}
)

// Handler serves both SQS protocols.
type Handler struct {
	b      *queue.Broker
	verify awsproto.Verifier
	authz  awsproto.Authorizer
	fwd    *awsproto.Forwarder
	log    *slog.Logger
}

// NewHandler returns the SQS endpoint. verify may be nil to accept unsigned
// requests (tests, or a deliberately open development server).
func NewHandler(b *queue.Broker, verify awsproto.Verifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{b: b, verify: verify, log: logger.With("component", "sqs")}
	h.fwd = awsproto.NewForwarder(b, h.log, func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, r, awsproto.NewRequestID(), toWire(queue.ErrServiceUnavailable))
	})
	return h
}

// SetForwardTransport sets how requests are forwarded to the replica that
// owns the data (a TLS server's trusts its cluster CA).
func (h *Handler) SetForwardTransport(rt http.RoundTripper) { h.fwd.SetTransport(rt) }

// SetReplicaKey sets the key the replicas share, with which a forwarded
// request carries its client's address to the owner (for its audit log).
func (h *Handler) SetReplicaKey(key []byte) { h.fwd.SetReplicaKey(key) }

// WithAuthorizer makes h check every action against the caller's
// policies (and the queue's Policy attribute) before running it.
func (h *Handler) WithAuthorizer(a awsproto.Authorizer) *Handler {
	h.authz = a
	return h
}

// IsSQSRequest reports whether r is an SQS call: an X-Amz-Target of
// AmazonSQS.*, or an Action= naming an SQS action in the query string or a
// form body. A form body is read once and kept on r for ServeHTTP.
func IsSQSRequest(r *http.Request) bool {
	if t := awsproto.Target(r); t != "" {
		return strings.HasPrefix(t, targetPrefix)
	}
	_, ok := actions[awsproto.FormAction(r, MaxBodyBytes)]
	return ok
}

// Claims is IsSQSRequest (Handler is an awsproto.Adapter).
func (h *Handler) Claims(r *http.Request) bool { return IsSQSRequest(r) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	body, err := awsproto.ReadBody(r, MaxBodyBytes)
	if err != nil {
		h.fail(w, r, reqID, queue.ErrInvalidParameterValue.With("The request body is too large or unreadable: %v", err))
		return
	}
	if err := awsproto.Verify(h.verify, r, body); err != nil {
		h.fail(w, r, reqID, err)
		return
	}
	c, err := decode(r, body)
	if err != nil {
		h.fail(w, r, reqID, err)
		return
	}
	c.b = h.b
	if err := h.authorize(r, c); err != nil {
		h.fail(w, r, reqID, err)
		return
	}
	ctx := r.Context()
	if id := awsproto.AccessKeyID(r); id != "" {
		ctx = queue.WithSender(ctx, id)
	}
	out, err := actions[c.action](ctx, c)
	// The queue lives in a shard another replica owns: the answer is
	// theirs (the request goes as it came, signature and all).
	if errors.Is(err, queue.ErrNotOwner) && h.fwd.ForwardTo(w, r, body, queue.OwnerURLOf(err)) {
		return
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the client went away
		}
		h.fail(w, r, reqID, err)
		return
	}
	if awsproto.IsJSON(r) {
		writeJSONResult(w, reqID, out)
		return
	}
	var result func(*awsproto.XMLWriter)
	if _, empty := out.(emptyOut); !empty {
		result = out.writeXML
	}
	xmlDialect.WriteResult(w, c.action, reqID, result)
}

// jsonContentType is shared by every JSON answer: net/http only reads it
// (and its capacity is its length, so an Add would copy, not write into it).
var jsonContentType = []string{"application/x-amz-json-1.0"}

// jsonBufs holds answer buffers for reuse (w.Write copies them out).
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// writeJSONResult writes out in the JSON protocol: the hot actions'
// answers through appendJSON into a pooled buffer, others by json.Marshal.
func writeJSONResult(w http.ResponseWriter, reqID string, out output) {
	bp := jsonBufs.Get().(*[]byte)
	b, ok := appendJSON((*bp)[:0], out)
	if ok {
		// What jsonDialect.WriteEncoded writes, with the header keys
		// already canonical (Header.Set canonicalises them on every
		// request) and one shared Content-Type value.
		h := w.Header()
		h["X-Amzn-Requestid"] = []string{reqID}
		h["Content-Type"] = jsonContentType
		_, _ = w.Write(b)
	} else {
		jsonDialect.WriteResult(w, reqID, out)
	}
	if cap(b) <= 64<<10 { // a large receive's buffer is left to the GC
		*bp = b[:0]
		jsonBufs.Put(bp)
	}
}

// decode reads the action and its input from either protocol.
func decode(r *http.Request, body []byte) (*call, error) {
	c := &call{baseURL: baseURL(r), path: r.URL.Path}
	var err error
	if target := awsproto.Target(r); target != "" {
		c.action = strings.TrimPrefix(target, targetPrefix)
		c.in, err = decodeJSON(body)
	} else {
		form, ferr := awsproto.Form(r, body)
		if ferr != nil {
			return nil, queue.ErrInvalidParameterValue.With("%v", ferr)
		}
		c.action = form.Get("Action")
		c.in, err = decodeQuery(form)
	}
	if err != nil {
		return nil, err
	}
	if c.action == "" {
		return nil, missing("Action")
	}
	if _, ok := actions[c.action]; !ok {
		return nil, errInvalidAction(c.action)
	}
	return c, nil
}

// authorize asks the authorizer whether the caller may run c, on the
// queue it names (IAM's resource for SQS actions is the queue's ARN).
func (h *Handler) authorize(r *http.Request, c *call) error {
	if h.authz == nil {
		return nil
	}
	name := ""
	switch c.action {
	case "CreateQueue", "GetQueueUrl":
		name = c.in.QueueName
	case "ListQueues":
		name = "*"
	case "CancelMessageMoveTask":
		// The task's source queue, which its handle names (and which the
		// cancel acts on), as in SQS.
		if c.in.TaskHandle == "" {
			return missing("TaskHandle")
		}
		src, err := queue.MoveTaskSource(c.in.TaskHandle)
		if err != nil {
			return err
		}
		name = model.QueueNameFromArn(src)
	case "StartMessageMoveTask", "ListMessageMoveTasks":
		name = model.QueueNameFromArn(c.in.SourceArn)
	default:
		n, err := c.queueName()
		if err != nil {
			return err
		}
		name = n
	}
	resource := model.QueueArn(model.Region, name)
	policy := func() string {
		if name == "*" {
			return ""
		}
		q, err := h.b.GetQueue(r.Context(), name)
		if err != nil {
			return ""
		}
		return q.Attributes[model.QAPolicy]
	}
	err := h.authz.Authorize(r, "sqs:"+c.action, resource, policy)
	if err == nil && c.action == "StartMessageMoveTask" && c.in.DestinationArn != "" {
		// The move sends the source's messages to the destination on the
		// caller's behalf: the caller must be allowed to send there, else
		// a move task on its own dead-letter queue fills any queue.
		err = h.authorizeSend(r, model.QueueNameFromArn(c.in.DestinationArn))
	}
	var denied *awsproto.AccessDenied
	if errors.As(err, &denied) {
		return &awsproto.Error{Code: "AccessDenied", Status: http.StatusForbidden, Message: denied.Message}
	}
	return err
}

// authorizeSend checks sqs:SendMessage on queue name (with its Policy).
func (h *Handler) authorizeSend(r *http.Request, name string) error {
	return h.authz.Authorize(r, "sqs:SendMessage", model.QueueArn(model.Region, name), func() string {
		q, err := h.b.GetQueue(r.Context(), name)
		if err != nil {
			return ""
		}
		return q.Attributes[model.QAPolicy]
	})
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

// fail logs server-side failures and writes err in r's protocol.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	e := toWire(err)
	if e.HTTPStatus() >= 500 {
		h.log.Warn("sqs request failed", "code", e.Code, "err", err)
	}
	writeErr(w, r, reqID, e)
}

func writeErr(w http.ResponseWriter, r *http.Request, reqID string, e *awsproto.Error) {
	if awsproto.IsJSON(r) {
		jsonDialect.WriteError(w, reqID, e)
		return
	}
	xmlDialect.WriteError(w, reqID, e)
}
