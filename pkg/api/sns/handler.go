// Package sns serves the Amazon SNS API on Orch's endpoint in the protocol
// every stock SNS client sends: query/XML (POST / with a form body
// Action=<Action>&Version=2010-03-31; aws-sdk-go-v2, boto3, both awscli
// versions). One table (actions) maps each action to a small handler that
// reads the form, calls pkg/topic and writes the XML result. Errors from
// pkg/topic carry neutral kinds; errors.go maps each to its SNS code and
// HTTP status.
//
// The shared plumbing (request ids, error shapes, SigV4, forwarding to the
// replica that serves the topics, reading the body once) is
// pkg/api/awsproto.
//
// Mounting (Handler is an awsproto.Adapter):
//
//	h := sns.NewHandler(topics, verifier, logger)
//	if h.Claims(r) { h.ServeHTTP(w, r) }
package sns

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/topic"
)

// MaxBodyBytes bounds a request body: a 256 KiB batch with form escaping
// (up to 3 bytes per byte) fits.
const MaxBodyBytes = 2 << 20

var xmlDialect = awsproto.XMLDialect{Namespace: "http://sns.amazonaws.com/doc/2010-03-31/"}

// Handler serves the SNS query protocol.
type Handler struct {
	t      *topic.Service
	verify awsproto.Verifier
	authz  awsproto.Authorizer
	fwd    *awsproto.Forwarder
	log    *slog.Logger
}

// NewHandler returns the SNS endpoint. verify may be nil to accept unsigned
// requests (tests, or a deliberately open development server).
func NewHandler(t *topic.Service, verify awsproto.Verifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{t: t, verify: verify, log: logger.With("component", "sns")}
	h.fwd = awsproto.NewForwarder(t, h.log, func(w http.ResponseWriter, r *http.Request) {
		xmlDialect.WriteError(w, awsproto.NewRequestID(), toWire(topic.ErrUnavailable))
	})
	return h
}

// SetForwardTransport sets how requests are forwarded to the replica that
// owns the data (a TLS server's trusts its cluster CA).
func (h *Handler) SetForwardTransport(rt http.RoundTripper) { h.fwd.SetTransport(rt) }

// SetReplicaKey sets the key the replicas share, with which a forwarded
// request carries its client's address to the owner (for its audit log).
func (h *Handler) SetReplicaKey(key []byte) { h.fwd.SetReplicaKey(key) }

// IsSNSRequest reports whether r is an SNS call: a query-protocol request
// (no X-Amz-Target) whose Action names an SNS action. A form body is read
// once and kept on r for ServeHTTP.
func IsSNSRequest(r *http.Request) bool {
	if awsproto.IsJSON(r) {
		return false
	}
	_, ok := actions[awsproto.FormAction(r, MaxBodyBytes)]
	return ok
}

// Claims is IsSNSRequest (Handler is an awsproto.Adapter).
func (h *Handler) Claims(r *http.Request) bool { return IsSNSRequest(r) }

// IsSubscribeURL reports whether r is a subscriber following the
// SubscribeURL of a confirmation message: an unsigned GET with
// Action=ConfirmSubscription and its token in the query. SNS accepts it
// without SigV4 (the token, random and expiring, is the credential), so
// the gate in front of the AWS protocols must let it through unsigned.
func IsSubscribeURL(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodGet && r.Header.Get("Authorization") == "" &&
		q.Get("Action") == "ConfirmSubscription" && q.Get("Token") != ""
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	body, err := awsproto.ReadBody(r, MaxBodyBytes)
	if err != nil {
		h.fail(w, reqID, topic.ErrInvalidParameter.With("Invalid parameter: the request body is too large or unreadable: %v", err))
		return
	}
	// ConfirmSubscription is the one action SNS takes unsigned: the
	// subscriber GETs the SubscribeURL, and the token it was sent (random,
	// expiring after 2 days) is the credential.
	if awsproto.FormAction(r, MaxBodyBytes) != "ConfirmSubscription" {
		if err := awsproto.Verify(h.verify, r, body); err != nil {
			h.fail(w, reqID, err)
			return
		}
	}
	if h.fwd.ForwardIfNotOwner(w, r, body) {
		return
	}
	form, err := awsproto.Form(r, body)
	if err != nil {
		h.fail(w, reqID, topic.ErrInvalidParameter.With("Invalid parameter: %v", err))
		return
	}
	name := form.Get("Action")
	act, ok := actions[name]
	if !ok {
		h.fail(w, reqID, &awsproto.Error{Code: "InvalidAction", Status: http.StatusBadRequest, Message: "The action " + name + " is not valid for this endpoint."})
		return
	}
	if err := h.authorize(r, name, form); err != nil {
		h.fail(w, reqID, err)
		return
	}
	c := &call{t: h.t, form: form, base: baseURL(r)}
	result, err := act(r.Context(), c)
	if errors.Is(err, topic.ErrNotOwner) && h.fwd.ForwardToOwner(w, r, body) {
		return
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		h.fail(w, reqID, err)
		return
	}
	xmlDialect.WriteResult(w, name, reqID, result)
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

// WithAuthorizer makes h check every action against the caller's
// policies (and the topic's Policy attribute) before running it.
func (h *Handler) WithAuthorizer(a awsproto.Authorizer) *Handler {
	h.authz = a
	return h
}

// authorize asks the authorizer whether the caller may run action on the
// topic it names (IAM's resource for SNS actions is the topic's ARN).
// ConfirmSubscription by its token alone (unsigned) is SNS's one
// exception: the token is the credential.
func (h *Handler) authorize(r *http.Request, action string, form url.Values) error {
	if h.authz == nil || (action == "ConfirmSubscription" && awsproto.AccessKeyID(r) == "") {
		return nil
	}
	var resource string
	switch action {
	case "CreateTopic":
		resource = model.TopicArn(model.Region, form.Get("Name"))
	case "ListTopics", "ListSubscriptions":
		resource = model.TopicArn(model.Region, "*")
	case "TagResource", "UntagResource", "ListTagsForResource":
		resource = form.Get("ResourceArn")
	case "Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes":
		// A subscription's ARN is its topic's plus ":<id>".
		s := form.Get("SubscriptionArn")
		if i := strings.LastIndexByte(s, ':'); i > 0 {
			s = s[:i]
		}
		resource = s
	case "Publish":
		resource = form.Get("TopicArn")
		if resource == "" {
			resource = form.Get("TargetArn")
		}
	default:
		resource = form.Get("TopicArn")
	}
	// The ARN checked is the one of the topic acted on, spelt as this
	// cluster spells it: the actions read only the name out of an ARN, so
	// an ARN with another region must not slip past a Deny on the
	// topic's own ARN.
	if name, err := model.ArnName(resource, "sns"); err == nil && name != "*" {
		resource = model.TopicArn(model.Region, name)
	}
	policy := func() string {
		attrs, err := h.t.GetTopicAttributes(r.Context(), resource)
		if err != nil {
			return ""
		}
		return attrs[model.TAPolicy]
	}
	err := h.authz.Authorize(r, "sns:"+action, resource, policy)
	if err == nil {
		err = h.authorizeTargets(r, action, form)
	}
	var denied *awsproto.AccessDenied
	if errors.As(err, &denied) {
		return &awsproto.Error{Code: "AuthorizationError", Status: http.StatusForbidden, Message: denied.Message}
	}
	return err
}

// authorizeTargets checks what a subscription makes the topic write to on
// the subscriber's behalf: its queue (sqs:SendMessage) or function
// (lambda:InvokeFunction), and its RedrivePolicy's dead-letter queue
// (sqs:SendMessage). Without it, sns:Subscribe on one topic would reach
// every queue and function of the cluster. Only the caller's own policy
// counts here: a queue's Policy is not read (this handler has no queues).
// A target that does not parse is left to the action, which refuses it.
func (h *Handler) authorizeTargets(r *http.Request, action string, form url.Values) error {
	var redrive string
	switch action {
	case "Subscribe":
		endpoint := form.Get("Endpoint")
		switch form.Get("Protocol") {
		case model.ProtocolSQS:
			if name, err := model.ArnName(endpoint, "sqs"); err == nil {
				if err := h.authz.Authorize(r, "sqs:SendMessage", model.QueueArn(model.Region, name), nil); err != nil {
					return err
				}
			}
		case model.ProtocolLambda:
			// Named as the functions resolve a lambda endpoint.
			if err := h.authz.Authorize(r, "lambda:InvokeFunction", model.FunctionARN(function.Name(endpoint)), nil); err != nil {
				return err
			}
		}
		redrive = entries(form, "Attributes", "key", "value")[model.SARedrivePolicy]
	case "SetSubscriptionAttributes":
		if form.Get("AttributeName") == model.SARedrivePolicy {
			redrive = form.Get("AttributeValue")
		}
	}
	if redrive == "" {
		return nil
	}
	rp, err := model.ParseSubscriptionRedrivePolicy(redrive)
	if err != nil {
		return nil
	}
	if name, err := model.ArnName(rp.DeadLetterTargetArn, "sqs"); err == nil {
		return h.authz.Authorize(r, "sqs:SendMessage", model.QueueArn(model.Region, name), nil)
	}
	return nil
}

func (h *Handler) fail(w http.ResponseWriter, reqID string, err error) {
	e := toWire(err)
	if e.HTTPStatus() >= 500 {
		h.log.Warn("sns request failed", "code", e.Code, "err", err)
	}
	xmlDialect.WriteError(w, reqID, e)
}

// call is one decoded request.
type call struct {
	t    *topic.Service
	form url.Values
	base string
}

// IsCertRequest reports whether r fetches the SNS signing certificate
// (GET /sns/SimpleNotificationService-<id>.pem).
func IsCertRequest(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, topic.CertPathPrefix) && strings.HasSuffix(r.URL.Path, ".pem")
}

// CertHandler serves the signing certificate without authentication: it is
// public (a verifier fetches it from SigningCertURL), like SNS's.
func CertHandler(t *topic.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, topic.CertPathPrefix), ".pem")
		pem, ok := t.SigningCert(r.Context(), id)
		if !ok {
			http.Error(w, "no such signing certificate", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(pem)
	})
}
