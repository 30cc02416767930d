package sns

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/topic"
)

// REST is Orch's native topic API under /v1/topics, used by the orch CLI.
// Mount its routes behind admin authentication.
type REST struct {
	t   *topic.Service
	fwd *awsproto.Forwarder
}

// NewREST returns the /v1/topics handlers; they forward to the replica
// serving the topics as h does.
func NewREST(t *topic.Service, h *Handler) *REST { return &REST{t: t, fwd: h.fwd} }

// Routes are the handlers by pattern.
func (rs *REST) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/topics":                       rs.wrap(rs.list),
		"GET /v1/topics/{name}":                rs.wrap(rs.get),
		"DELETE /v1/topics/{name}":             rs.wrap(rs.del),
		"POST /v1/topics/{name}/publish":       rs.wrap(rs.publish),
		"POST /v1/topics/{name}/subscriptions": rs.wrap(rs.subscribe),
		"POST /v1/topics/{name}/unsubscribe":   rs.wrap(rs.unsubscribe),
		"POST /v1/topic-signing-key/rotate":    rs.wrap(rs.rotateKey),
	}
}

type restFunc func(ctx context.Context, r *http.Request, body []byte) (any, error)

func (rs *REST) wrap(f restFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := awsproto.ReadBody(r, MaxBodyBytes)
		if err != nil {
			writeREST(w, http.StatusRequestEntityTooLarge, wire.Error{Code: "RequestTooLarge", Message: err.Error()})
			return
		}
		if rs.fwd.ForwardIfNotOwner(w, r, body) {
			return
		}
		out, err := f(r.Context(), r, body)
		if err != nil {
			e := toWire(err)
			writeREST(w, e.HTTPStatus(), wire.Error{Code: e.Code, Message: e.Message})
			return
		}
		writeREST(w, http.StatusOK, out)
	}
}

func writeREST(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return topic.ErrInvalidParameter.With("Invalid parameter: the request body is not valid: %v", err)
	}
	return nil
}

func (rs *REST) arn(r *http.Request) string {
	return model.TopicArn(rs.t.Region(), r.PathValue("name"))
}

// views lists topics with their subscriptions (name "" for all).
func (rs *REST) views(ctx context.Context, name string) ([]wire.TopicView, error) {
	ts, err := rs.t.Topics(ctx)
	if err != nil {
		return nil, err
	}
	subs, err := rs.t.ListSubscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	out := []wire.TopicView{}
	for _, t := range ts {
		if name != "" && t.Name != name {
			continue
		}
		v := wire.TopicView{Name: t.Name, Arn: t.Arn, Fifo: t.Fifo, Attributes: t.Attributes, Tags: t.Tags, Subscriptions: []wire.SubscriptionView{}}
		for _, s := range subs {
			if s.TopicArn == t.Arn {
				v.Subscriptions = append(v.Subscriptions, wire.SubscriptionView{Arn: s.Arn, Protocol: s.Protocol, Endpoint: s.Endpoint,
					State: s.State, Attributes: s.Attributes, Delivered: s.Delivered, Failures: s.Failures,
					DeadLettered: s.DeadLettered, Pending: s.Pending, Dropped: s.Dropped})
			}
		}
		out = append(out, v)
	}
	if name != "" && len(out) == 0 {
		return nil, topic.ErrTopicNotFound
	}
	return out, nil
}

// list answers a page of topics in name order, as the other /v1 lists:
// {"topics": [...], "nextToken": "..."} ("" on the last page).
func (rs *REST) list(ctx context.Context, r *http.Request, _ []byte) (any, error) {
	page, err := api.ParsePage(r)
	if err != nil {
		return nil, &awsproto.Error{Code: "BadRequest", Status: http.StatusBadRequest, Message: err.Error()}
	}
	vs, err := rs.views(ctx, "")
	if err != nil {
		return nil, err
	}
	vs, next := api.Page(vs, func(v wire.TopicView) string { return v.Name }, page)
	return wire.TopicList{Topics: vs, NextToken: next}, nil
}

func (rs *REST) get(ctx context.Context, r *http.Request, _ []byte) (any, error) {
	vs, err := rs.views(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

func (rs *REST) del(ctx context.Context, r *http.Request, _ []byte) (any, error) {
	if _, err := rs.t.GetTopicAttributes(ctx, rs.arn(r)); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": r.PathValue("name")}, rs.t.DeleteTopic(ctx, rs.arn(r))
}

func (rs *REST) publish(ctx context.Context, r *http.Request, body []byte) (any, error) {
	var req wire.PublishRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	in := topic.PublishInput{Message: req.Message, Subject: req.Subject, MessageGroupID: req.GroupID, MessageDeduplicationID: req.DeduplicationID}
	for k, v := range req.Attributes {
		if in.Attributes == nil {
			in.Attributes = map[string]model.MessageAttributeValue{}
		}
		in.Attributes[k] = model.MessageAttributeValue{DataType: "String", StringValue: v}
	}
	res, err := rs.t.Publish(ctx, rs.arn(r), in)
	if err != nil {
		return nil, err
	}
	return map[string]string{"messageId": res.MessageID, "sequenceNumber": res.SequenceNumber}, nil
}

func (rs *REST) subscribe(ctx context.Context, r *http.Request, body []byte) (any, error) {
	var req wire.SubscribeRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	arn, pending, err := rs.t.Subscribe(ctx, topic.SubscribeInput{TopicArn: rs.arn(r), Protocol: req.Protocol,
		Endpoint: resolveEndpoint(rs.t.Region(), req.Protocol, req.Endpoint), Attributes: resolveAttributes(rs.t.Region(), req.Attributes)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"subscriptionArn": arn, "pendingConfirmation": pending}, nil
}

func (rs *REST) unsubscribe(ctx context.Context, r *http.Request, body []byte) (any, error) {
	var req wire.UnsubscribeRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(req.SubscriptionArn, rs.arn(r)+":") {
		return nil, topic.ErrInvalidParameter.With("Invalid parameter: subscriptionArn %q is not a subscription of topic %s", req.SubscriptionArn, r.PathValue("name"))
	}
	return map[string]string{"unsubscribed": req.SubscriptionArn}, rs.t.Unsubscribe(ctx, req.SubscriptionArn)
}

// resolveEndpoint turns a queue name into its ARN for sqs subscriptions,
// so manifests and the CLI can name a queue of the same cluster.
func resolveEndpoint(region, protocol, endpoint string) string {
	if protocol == model.ProtocolSQS && endpoint != "" && !strings.HasPrefix(endpoint, "arn:") {
		return model.QueueArn(region, endpoint)
	}
	return endpoint
}

// resolveAttributes lets a RedrivePolicy name its dead-letter queue by name:
// {"deadLetterTargetArn": "orders-dlq"}.
func resolveAttributes(region string, attrs map[string]string) map[string]string {
	rp := attrs[model.SARedrivePolicy]
	if rp == "" {
		return attrs
	}
	var p map[string]string
	if json.Unmarshal([]byte(rp), &p) != nil || p["deadLetterTargetArn"] == "" || strings.HasPrefix(p["deadLetterTargetArn"], "arn:") {
		return attrs
	}
	p["deadLetterTargetArn"] = model.QueueArn(region, p["deadLetterTargetArn"])
	b, _ := json.Marshal(p)
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		out[k] = v
	}
	out[model.SARedrivePolicy] = string(b)
	return out
}

// RotateKeyRequest is the body of POST /v1/topic-signing-key/rotate.
type RotateKeyRequest struct {
	// KeepRetiredCert is how long the previous certificate stays served
	// (a Go duration such as "336h"); empty: topic.DefaultKeepRetiredCert.
	KeepRetiredCert string `json:"keepRetiredCert,omitempty"`
}

func (rs *REST) rotateKey(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req RotateKeyRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return nil, err
		}
	}
	var keep time.Duration
	if req.KeepRetiredCert != "" {
		var err error
		if keep, err = time.ParseDuration(req.KeepRetiredCert); err != nil {
			return nil, topic.ErrInvalidParameter.With("Invalid parameter: keepRetiredCert %q is not a duration (for example 336h)", req.KeepRetiredCert)
		}
	}
	r, err := rs.t.RotateSigningKey(ctx, keep)
	if err != nil {
		return nil, err
	}
	return map[string]string{"signingCertURL": r.SigningCertURL, "previousCertURL": r.PreviousCertURL,
		"previousServedUntil": r.PreviousServedUntil.UTC().Format(time.RFC3339)}, nil
}
