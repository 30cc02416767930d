package sns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/topic"
)

// Applier applies `kind: Topic` documents for POST /v1/apply (it satisfies
// api.Applier). A document's subscriptions are created or updated; other
// subscriptions of the topic (made through the API) are left alone.
type Applier struct {
	Topics *topic.Service
	fwd    *awsproto.Forwarder // to the replica serving the topics
}

// NewApplier returns the Topic applier forwarding a document to the
// replica serving the topics, as h forwards SNS calls.
func NewApplier(t *topic.Service, h *Handler) Applier { return Applier{Topics: t, fwd: h.fwd} }

// ForwardApply sends a document to the replica serving the topics when
// this one does not (api.ApplyForwarder).
func (a Applier) ForwardApply(w http.ResponseWriter, r *http.Request, body []byte, err error) bool {
	return a.fwd != nil && errors.Is(err, topic.ErrNotOwner) && a.fwd.ForwardToOwner(w, r, body)
}

// Decode parses and validates a Topic document.
func (a Applier) Decode(spec json.RawMessage) (any, error) {
	var s model.TopicSpec
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, &model.FieldError{Message: "Topic: " + err.Error()}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Apply creates the topic or updates its attributes and tags, then its
// subscriptions.
func (a Applier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	s := obj.(*model.TopicSpec)
	res := wire.ApplyResult{Kind: "Topic", Name: s.Name}
	region := a.Topics.Region()
	arn := model.TopicArn(region, s.Name)
	tags := map[string]string{}
	for _, t := range s.Tags {
		tags[t.Key] = t.Value
	}
	cur, err := a.Topics.GetTopicAttributes(ctx, arn)
	switch {
	case topic.KindOf(err) == topic.KindNotFound:
		if _, err := a.Topics.CreateTopic(ctx, s.Name, s.Attributes, tags); err != nil {
			return res, applyErr("", err)
		}
		res.Action = "created"
	case err != nil:
		return res, applyErr("", err)
	default:
		res.Action = "unchanged"
		for k, v := range s.Attributes {
			if cur[k] != v {
				if err := a.Topics.SetTopicAttributes(ctx, arn, k, v); err != nil {
					return res, applyErr("Attributes."+k, err)
				}
				res.Action = "configured"
			}
		}
		old, err := a.Topics.ListTagsForResource(ctx, arn)
		if err != nil {
			return res, applyErr("", err)
		}
		for k, v := range tags {
			if old[k] != v {
				if err := a.Topics.TagResource(ctx, arn, tags); err != nil {
					return res, applyErr("Tags", err)
				}
				res.Action = "configured"
				break
			}
		}
	}
	existing, err := a.Topics.ListSubscriptions(ctx, arn)
	if err != nil {
		return res, applyErr("", err)
	}
	for i, sub := range s.Subscriptions {
		path := fmt.Sprintf("subscriptions[%d]", i)
		endpoint := resolveEndpoint(region, sub.Protocol, sub.Endpoint)
		attrs := resolveAttributes(region, sub.Attributes)
		var found *topic.SubscriptionInfo
		for j := range existing {
			if existing[j].Protocol == sub.Protocol && existing[j].Endpoint == endpoint {
				found = &existing[j]
			}
		}
		if found == nil {
			if _, _, err := a.Topics.Subscribe(ctx, topic.SubscribeInput{TopicArn: arn, Protocol: sub.Protocol, Endpoint: endpoint, Attributes: attrs}); err != nil {
				return res, applyErr(path, err)
			}
			if res.Action == "unchanged" {
				res.Action = "configured"
			}
			continue
		}
		for k, v := range attrs {
			if found.Attributes[k] != v {
				if err := a.Topics.SetSubscriptionAttributes(ctx, found.Arn, k, v); err != nil {
					return res, applyErr(path+".Attributes."+k, err)
				}
				if res.Action == "unchanged" {
					res.Action = "configured"
				}
			}
		}
	}
	return res, nil
}

// applyErr turns a topic error into one the /v1 API maps to 400 or 503,
// naming the field it is about.
func applyErr(path string, err error) error {
	if topic.KindOf(err).ClientFault() {
		e := toWire(err)
		return &model.FieldError{Path: path, Message: e.Code + ": " + e.Message}
	}
	return err
}
