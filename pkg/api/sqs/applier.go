package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// Applier applies `kind: Queue` documents for POST /v1/apply (it satisfies
// api.Applier, and api.ApplyForwarder when made by NewApplier).
type Applier struct {
	Broker *queue.Broker
	fwd    *awsproto.Forwarder // to the replica owning a queue's shard
}

// NewApplier returns the Queue applier forwarding a document to the
// replica owning its queue's shard, as h forwards SQS calls.
func NewApplier(b *queue.Broker, h *Handler) Applier { return Applier{Broker: b, fwd: h.fwd} }

// ForwardApply sends a document whose queue another replica owns to that
// replica (api.ApplyForwarder).
func (a Applier) ForwardApply(w http.ResponseWriter, r *http.Request, body []byte, err error) bool {
	return a.fwd != nil && errors.Is(err, queue.ErrNotOwner) && a.fwd.ForwardTo(w, r, body, queue.OwnerURLOf(err))
}

// Decode parses and validates a Queue document.
func (a Applier) Decode(spec json.RawMessage) (any, error) {
	var s model.QueueSpec
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, &model.FieldError{Message: "Queue: " + err.Error()}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Apply creates the queue, or updates its attributes and tags.
func (a Applier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	s := obj.(*model.QueueSpec)
	res := wire.ApplyResult{Kind: "Queue", Name: s.QueueName}
	cur, err := a.Broker.GetQueue(ctx, s.QueueName)
	if errors.Is(err, queue.ErrQueueDoesNotExist) {
		if _, err := a.Broker.CreateQueue(ctx, s.QueueName, s.Attributes, s.Tags); err != nil {
			return res, applyErr(err)
		}
		res.Action = "created"
		return res, nil
	}
	if err != nil {
		return res, applyErr(err)
	}
	changed := map[string]string{}
	for k, v := range s.Attributes {
		if !sameAttribute(k, v, cur.Attributes[k], cur.Fifo()) {
			changed[k] = v
		}
	}
	res.Action = "unchanged"
	if len(changed) > 0 {
		if err := a.Broker.SetQueueAttributes(ctx, s.QueueName, changed); err != nil {
			return res, applyErr(err)
		}
		res.Action = "configured"
	}
	tagsChanged := false
	for k, v := range s.Tags {
		if cur.Tags[k] != v {
			tagsChanged = true
		}
	}
	if tagsChanged {
		if err := a.Broker.TagQueue(ctx, s.QueueName, s.Tags); err != nil {
			return res, applyErr(err)
		}
		res.Action = "configured"
	}
	return res, nil
}

// sameAttribute reports whether a manifest's attribute value (as written:
// "3", " 10", "TRUE", a RedrivePolicy with its own spacing and quoting)
// means the value the queue stores, which the broker keeps in canonical
// form. Comparing the text made every re-apply of a queue with a
// RedrivePolicy say "configured" and write it again.
func sameAttribute(name, want, have string, fifo bool) bool {
	if want == have {
		return true
	}
	switch name {
	case model.QADelaySeconds, model.QAMaximumMessageSize, model.QAMessageRetentionPeriod,
		model.QAReceiveMessageWaitTimeSeconds, model.QAVisibilityTimeout, model.QAKmsDataKeyReusePeriodSeconds:
		a, err1 := strconv.Atoi(strings.TrimSpace(want))
		b, err2 := strconv.Atoi(strings.TrimSpace(have))
		return err1 == nil && err2 == nil && a == b
	case model.QAFifoQueue, model.QAContentBasedDeduplication, model.QASqsManagedSseEnabled:
		return strings.EqualFold(want, have)
	case model.QARedrivePolicy:
		cfg, err := model.ParseQueueAttributes(map[string]string{name: want}, fifo)
		return err == nil && cfg.Redrive != nil && cfg.Redrive.String() == have
	}
	return false
}

// applyErr turns a queue error into one the /v1 API maps to 400 or 503.
func applyErr(err error) error {
	if queue.KindOf(err).ClientFault() {
		e := toWire(err)
		return &model.FieldError{Message: e.Code + ": " + e.Message}
	}
	return err
}
