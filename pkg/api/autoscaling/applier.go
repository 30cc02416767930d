package autoscaling

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// TargetApplier applies `kind: ScalableTarget` documents (api.Applier).
type TargetApplier struct{ Backend Backend }

// Decode parses and validates a ScalableTarget document.
func (a TargetApplier) Decode(spec json.RawMessage) (any, error) {
	var t model.ScalableTarget
	if err := strict(spec, &t, "ScalableTarget"); err != nil {
		return nil, err
	}
	if t.ServiceNamespace == "" {
		t.ServiceNamespace = model.ServiceNamespaceECS
	}
	if t.ScalableDimension == "" {
		t.ScalableDimension = model.ScalableDimensionECSDesire
	}
	t.Activities, t.LastScaleIn, t.LastScaleOut = nil, nil, nil
	return &t, t.Validate()
}

// Apply registers the target (or updates its bounds).
func (a TargetApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	t := obj.(*model.ScalableTarget)
	res := wire.ApplyResult{Kind: "ScalableTarget", Name: t.ResourceId, Action: "configured"}
	svc, _ := model.ServiceOfResourceID(t.ResourceId)
	if _, err := a.Backend.Target(ctx, svc); err != nil {
		res.Action = "created"
	}
	_, err := a.Backend.RegisterTarget(ctx, t)
	return res, err
}

// PolicyApplier applies `kind: ScalingPolicy` documents (api.Applier).
type PolicyApplier struct{ Backend Backend }

// Decode parses and validates a ScalingPolicy document.
func (a PolicyApplier) Decode(spec json.RawMessage) (any, error) {
	var p model.ScalingPolicy
	if err := strict(spec, &p, "ScalingPolicy"); err != nil {
		return nil, err
	}
	if p.ServiceNamespace == "" {
		p.ServiceNamespace = model.ServiceNamespaceECS
	}
	if p.ScalableDimension == "" {
		p.ScalableDimension = model.ScalableDimensionECSDesire
	}
	if p.PolicyType == "" {
		p.PolicyType = model.PolicyTargetTracking
	}
	return &p, p.Validate()
}

// Apply creates or replaces the policy.
func (a PolicyApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	p := obj.(*model.ScalingPolicy)
	res := wire.ApplyResult{Kind: "ScalingPolicy", Name: p.PolicyName, Action: "configured"}
	_, err := a.Backend.PutPolicy(ctx, p)
	return res, err
}

func strict(spec json.RawMessage, v any, kind string) error {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &model.FieldError{Message: kind + ": " + err.Error()}
	}
	return nil
}
