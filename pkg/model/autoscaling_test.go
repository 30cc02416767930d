package model

import (
	"errors"
	"strings"
	"testing"
)

func TestScalingPolicyValidateFieldPaths(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	base := func() *ScalingPolicy {
		return &ScalingPolicy{PolicyName: "p", ServiceNamespace: "ecs", ResourceId: "service/default/web",
			ScalableDimension: ScalableDimensionECSDesire, PolicyType: PolicyTargetTracking,
			TargetTrackingScalingPolicyConfiguration: &TargetTrackingConfiguration{TargetValue: f(5),
				CustomizedMetricSpecification: &CustomizedMetricSpecification{MetricName: MetricBacklogPerTask,
					Dimensions: []MetricDimension{{Name: DimensionQueueName, Value: "orders"}}}}}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("valid policy rejected: %v", err)
	}
	tests := []struct {
		name, path string
		edit       func(p *ScalingPolicy)
	}{
		{"negative target", "TargetTrackingScalingPolicyConfiguration.TargetValue", func(p *ScalingPolicy) { p.TargetTrackingScalingPolicyConfiguration.TargetValue = f(-1) }},
		{"unknown metric", "TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification.MetricName", func(p *ScalingPolicy) {
			p.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification.MetricName = "Latency"
		}},
		{"no queue", "TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification.Dimensions", func(p *ScalingPolicy) {
			p.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification.Dimensions = nil
		}},
		{"bad predefined", "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType", func(p *ScalingPolicy) {
			p.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification = nil
			p.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification = &PredefinedMetricSpecification{PredefinedMetricType: "ALBRequestCountPerTarget"}
		}},
		{"cooldown", "TargetTrackingScalingPolicyConfiguration.ScaleInCooldown", func(p *ScalingPolicy) {
			v := -3
			p.TargetTrackingScalingPolicyConfiguration.ScaleInCooldown = &v
		}},
		{"resource id", "ResourceId", func(p *ScalingPolicy) { p.ResourceId = "table/orders" }},
		{"namespace", "ServiceNamespace", func(p *ScalingPolicy) { p.ServiceNamespace = "dynamodb" }},
		{"type", "PolicyType", func(p *ScalingPolicy) { p.PolicyType = "Predictive" }},
		{"step without steps", "StepScalingPolicyConfiguration.StepAdjustments", func(p *ScalingPolicy) {
			p.PolicyType, p.TargetTrackingScalingPolicyConfiguration = PolicyStepScaling, nil
			p.StepScalingPolicyConfiguration = &StepScalingConfiguration{AdjustmentType: AdjustChangeInCapacity}
		}},
		{"step bounds", "StepScalingPolicyConfiguration.StepAdjustments[0].MetricIntervalUpperBound", func(p *ScalingPolicy) {
			p.PolicyType, p.TargetTrackingScalingPolicyConfiguration = PolicyStepScaling, nil
			p.StepScalingPolicyConfiguration = &StepScalingConfiguration{AdjustmentType: AdjustChangeInCapacity,
				StepAdjustments: []StepAdjustment{{MetricIntervalLowerBound: f(5), MetricIntervalUpperBound: f(1), ScalingAdjustment: 1}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base()
			tt.edit(p)
			err := p.Validate()
			var fe FieldErrors
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want FieldErrors", err)
			}
			for _, e := range fe {
				if e.Path == tt.path {
					return
				}
			}
			t.Fatalf("no error at %s in %v", tt.path, err)
		})
	}
}

func TestScalableTargetValidate(t *testing.T) {
	n := func(v int) *int { return &v }
	ok := ScalableTarget{ServiceNamespace: "ecs", ResourceId: "service/default/web", ScalableDimension: ScalableDimensionECSDesire, MinCapacity: n(0), MaxCapacity: n(20)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid target rejected: %v", err)
	}
	bad := ok
	bad.MinCapacity, bad.MaxCapacity = n(5), n(2)
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "MaxCapacity") {
		t.Fatalf("min above max: got %v", err)
	}
	bad = ok
	bad.MaxCapacity = nil
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "MaxCapacity: is required") {
		t.Fatalf("missing max: got %v", err)
	}
}
