package manifest_test

import (
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/model"
)

var scalingDecoder = manifest.NewDecoder(manifest.ServiceKind, manifest.ScalableTargetKind, manifest.ScalingPolicyKind)

func TestScalingKinds(t *testing.T) {
	docs, err := scalingDecoder.Parse("scaling.yaml", []byte(`kind: ScalableTarget
ResourceId: service/default/web
MinCapacity: 0
MaxCapacity: 10
---
kind: ScalingPolicy
PolicyName: backlog
ResourceId: service/default/web
TargetTrackingScalingPolicyConfiguration:
  TargetValue: 5
  CustomizedMetricSpecification:
    MetricName: BacklogPerTask
    Namespace: AWS/SQS
    Dimensions: [{Name: QueueName, Value: orders}]
    Statistic: Average
`))
	if err != nil {
		t.Fatal(err)
	}
	tg := docs[0].Object.(*model.ScalableTarget)
	if lo, hi := tg.Bounds(); lo != 0 || hi != 10 || tg.ServiceNamespace != "ecs" || tg.ScalableDimension != model.ScalableDimensionECSDesire {
		t.Errorf("target: %+v (defaults ecs and ecs:service:DesiredCount)", tg)
	}
	p := docs[1].Object.(*model.ScalingPolicy)
	if p.PolicyType != model.PolicyTargetTracking || p.Metric().CustomizedMetricSpecification.QueueName() != "orders" {
		t.Errorf("policy: %+v", p)
	}
}

func TestScalingKindErrorsHaveLinesAndPaths(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"policy target", `kind: ScalingPolicy
PolicyName: cpu
ResourceId: service/default/web
TargetTrackingScalingPolicyConfiguration:
  TargetValue: 0
  PredefinedMetricSpecification: {PredefinedMetricType: ECSServiceAverageCPUUtilization}
`, "scaling.yaml:5:16: TargetTrackingScalingPolicyConfiguration.TargetValue: must be above 0"},
		{"target bounds", `kind: ScalableTarget
ResourceId: service/default/web
MinCapacity: 4
MaxCapacity: 2
`, "scaling.yaml:4:14: MaxCapacity: 2 is below MinCapacity 4"},
		{"short form", `kind: Service
serviceName: web
taskDefinition: web
autoScaling:
  minCapacity: 0
  maxCapacity: 3
  messagesPerTask: 5
`, "autoScaling.queue: is required with messagesPerTask"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scalingDecoder.Parse("scaling.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
