package manifest

import (
	"reflect"

	"github.com/orch-project/orch/pkg/model"
)

// The Application Auto Scaling kinds: the shapes of RegisterScalableTarget
// and PutScalingPolicy (AWS field names).
const (
	KindScalableTarget = "ScalableTarget"
	KindScalingPolicy  = "ScalingPolicy"
)

// ScalableTargetKind reads scalable targets.
var ScalableTargetKind = Kind{Name: KindScalableTarget, Decode: decodeScalableTarget}

// ScalingPolicyKind reads scaling policies.
var ScalingPolicyKind = Kind{Name: KindScalingPolicy, Decode: decodeScalingPolicy}

var scalingSchema = Schema{
	reflect.TypeFor[model.ScalableTarget](): {
		Ignored:  []string{"RoleARN", "SuspendedState", "Tags"},
		ReadOnly: []string{"ScalableTargetARN", "CreationTime", "LastScaleOut", "LastScaleIn", "Activities"},
	},
	reflect.TypeFor[model.ScalingPolicy](): {
		ReadOnly: []string{"PolicyARN", "CreationTime", "Alarms"},
		Ignored:  []string{"PredictiveScalingPolicyConfiguration"},
	},
	reflect.TypeFor[model.CustomizedMetricSpecification](): {Ignored: []string{"Metrics"}},
}

func decodeScalableTarget(b *Body) (any, string, error) {
	t := new(model.ScalableTarget)
	_ = b.Decode(t, scalingSchema)
	if t.ScalableDimension == "" {
		t.ScalableDimension = model.ScalableDimensionECSDesire
	}
	if t.ServiceNamespace == "" {
		t.ServiceNamespace = model.ServiceNamespaceECS
	}
	return t, t.ResourceId, t.Validate()
}

func decodeScalingPolicy(b *Body) (any, string, error) {
	p := new(model.ScalingPolicy)
	_ = b.Decode(p, scalingSchema)
	if p.ScalableDimension == "" {
		p.ScalableDimension = model.ScalableDimensionECSDesire
	}
	if p.ServiceNamespace == "" {
		p.ServiceNamespace = model.ServiceNamespaceECS
	}
	if p.PolicyType == "" {
		p.PolicyType = model.PolicyTargetTracking
	}
	return p, p.PolicyName, p.Validate()
}
