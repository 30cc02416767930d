package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Scaling registers scalable targets and scaling policies and reads them
// back with their activities (Application Auto Scaling's requests, any
// replica). The leader's autoscaler (pkg/controller/reconcile) acts on
// them.
type Scaling struct {
	st  *store.Store
	now func() time.Time
}

// NewScaling returns the scaling handler.
func NewScaling(st *store.Store) *Scaling { return &Scaling{st: st, now: time.Now} }

// RegisterTarget creates a service's scalable target or updates its
// bounds (a field left nil keeps its registered value, as in AWS). The
// service must exist.
func (s *Scaling) RegisterTarget(ctx context.Context, in *model.ScalableTarget) (*model.ScalableTarget, error) {
	var errs model.FieldErrors
	svc, err := model.ServiceOfResourceID(in.ResourceId)
	if err != nil {
		errs.Add("ResourceId", err.Error())
		return nil, errs.Err()
	}
	if _, err := s.st.GetService(ctx, svc); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			errs.Add("ResourceId", fmt.Sprintf("ECS service %s does not exist; create it first (orch apply -f)", svc))
			return nil, errs.Err()
		}
		return nil, err
	}
	now := s.now().UTC()
	return s.st.UpdateScalableTarget(ctx, svc, nil, func(old *model.ScalableTarget) (*model.ScalableTarget, error) {
		t := *in
		t.ScalableTargetARN, t.CreationTime = model.ScalableTargetARNFor(svc), &now
		if old != nil {
			t.CreationTime, t.LastScaleIn, t.LastScaleOut, t.Activities = old.CreationTime, old.LastScaleIn, old.LastScaleOut, old.Activities
			if t.MinCapacity == nil {
				t.MinCapacity = old.MinCapacity
			}
			if t.MaxCapacity == nil {
				t.MaxCapacity = old.MaxCapacity
			}
			if t.ScaleToZeroAfterSeconds == nil {
				t.ScaleToZeroAfterSeconds = old.ScaleToZeroAfterSeconds
			}
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		return &t, nil
	})
}

// PutPolicy creates or replaces a policy on a registered target.
func (s *Scaling) PutPolicy(ctx context.Context, p *model.ScalingPolicy) (*model.ScalingPolicy, error) {
	if p.PolicyType == "" {
		p.PolicyType = model.PolicyTargetTracking
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p.PolicyARN, p.CreationTime = model.ScalingPolicyARNFor(p.Service(), p.PolicyName), &now
	if old, err := s.st.GetScalingPolicy(ctx, p.Service(), p.PolicyName); err == nil {
		p.CreationTime = old.CreationTime
	}
	if err := s.st.PutScalingPolicy(ctx, p); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return nil, &model.FieldError{Path: "ResourceId", Message: fmt.Sprintf("no scalable target is registered for %s; call RegisterScalableTarget first", p.ResourceId)}
		}
		return nil, err
	}
	return p, nil
}

// Targets returns the targets of the named services (all when none).
func (s *Scaling) Targets(ctx context.Context, services ...string) ([]*model.ScalableTarget, error) {
	all, err := s.st.ListScalableTargets(ctx)
	if err != nil || len(services) == 0 {
		return all, err
	}
	want := map[string]bool{}
	for _, n := range services {
		want[n] = true
	}
	var out []*model.ScalableTarget
	for _, t := range all {
		if want[t.Service()] {
			out = append(out, t)
		}
	}
	return out, nil
}

// Target returns one service's target, or model.ErrNotFound.
func (s *Scaling) Target(ctx context.Context, service string) (*model.ScalableTarget, error) {
	return s.st.GetScalableTarget(ctx, service)
}

// Policies returns a service's policies (every policy when service is "").
func (s *Scaling) Policies(ctx context.Context, service string) ([]*model.ScalingPolicy, error) {
	return s.st.ListScalingPolicies(ctx, service)
}

// DeregisterTarget deletes a target and its policies. The service keeps
// its current desired count.
func (s *Scaling) DeregisterTarget(ctx context.Context, service string) error {
	return s.st.DeleteScalableTarget(ctx, service)
}

// DeletePolicy deletes one policy.
func (s *Scaling) DeletePolicy(ctx context.Context, service, name string) error {
	return s.st.DeleteScalingPolicy(ctx, service, name)
}
