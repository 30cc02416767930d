package autoscaling

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// actions is the one table of Application Auto Scaling actions Orch serves.
var actions = map[string]action{
	"RegisterScalableTarget":    registerScalableTarget,
	"DescribeScalableTargets":   describeScalableTargets,
	"DeregisterScalableTarget":  deregisterScalableTarget,
	"PutScalingPolicy":          putScalingPolicy,
	"DescribeScalingPolicies":   describeScalingPolicies,
	"DeleteScalingPolicy":       deleteScalingPolicy,
	"DescribeScalingActivities": describeScalingActivities,
}

func actionNames() string {
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// epoch is a timestamp as AWS JSON protocols send it: seconds since 1970.
func epoch(t *time.Time) float64 {
	if t == nil {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// dimension is the part every request names.
type dimension struct {
	ServiceNamespace  string
	ResourceId        string
	ScalableDimension string
}

// check validates the namespace and dimension (when given) and returns the
// service ResourceId names ("" when ResourceId is empty and optional).
func (d dimension) check(needResource bool) (string, error) {
	var errs model.FieldErrors
	if d.ServiceNamespace != model.ServiceNamespaceECS {
		errs.Add("ServiceNamespace", fmt.Sprintf("must be %q (Orch scales ECS services), got %q", model.ServiceNamespaceECS, d.ServiceNamespace))
	}
	if d.ScalableDimension != "" && d.ScalableDimension != model.ScalableDimensionECSDesire {
		errs.Add("ScalableDimension", fmt.Sprintf("must be %q, got %q", model.ScalableDimensionECSDesire, d.ScalableDimension))
	}
	var svc string
	if d.ResourceId != "" || needResource {
		s, err := model.ServiceOfResourceID(d.ResourceId)
		if err != nil {
			errs.Add("ResourceId", err.Error())
		}
		svc = s
	}
	return svc, errs.Err()
}

type targetOut struct {
	ServiceNamespace  string
	ResourceId        string
	ScalableDimension string
	MinCapacity       int
	MaxCapacity       int
	RoleARN           string
	CreationTime      float64
	ScalableTargetARN string
	SuspendedState    map[string]bool
}

func toTargetOut(t *model.ScalableTarget) targetOut {
	lo, hi := t.Bounds()
	return targetOut{ServiceNamespace: t.ServiceNamespace, ResourceId: t.ResourceId, ScalableDimension: t.ScalableDimension,
		MinCapacity: lo, MaxCapacity: hi, CreationTime: epoch(t.CreationTime), ScalableTargetARN: t.ScalableTargetARN,
		RoleARN:        fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService", model.AccountID),
		SuspendedState: map[string]bool{"DynamicScalingInSuspended": false, "DynamicScalingOutSuspended": false, "ScheduledScalingSuspended": false}}
}

func registerScalableTarget(ctx context.Context, b Backend, body []byte) (any, error) {
	var in model.ScalableTarget
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	// Keep only the request's fields.
	t := model.ScalableTarget{ServiceNamespace: in.ServiceNamespace, ResourceId: in.ResourceId, ScalableDimension: in.ScalableDimension,
		MinCapacity: in.MinCapacity, MaxCapacity: in.MaxCapacity, ScaleToZeroAfterSeconds: in.ScaleToZeroAfterSeconds}
	if _, err := (dimension{t.ServiceNamespace, t.ResourceId, t.ScalableDimension}).check(true); err != nil {
		return nil, err
	}
	if t.ScalableDimension == "" {
		return nil, model.FieldErrors{{Path: "ScalableDimension", Message: "is required: " + model.ScalableDimensionECSDesire}}
	}
	out, err := b.RegisterTarget(ctx, &t)
	if err != nil {
		return nil, err
	}
	return map[string]string{"ScalableTargetARN": out.ScalableTargetARN}, nil
}

func describeScalableTargets(ctx context.Context, b Backend, body []byte) (any, error) {
	var in struct {
		dimension
		ResourceIds []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if _, err := in.check(false); err != nil {
		return nil, err
	}
	var services []string
	for i, id := range in.ResourceIds {
		s, err := model.ServiceOfResourceID(id)
		if err != nil {
			return nil, model.FieldErrors{{Path: fmt.Sprintf("ResourceIds[%d]", i), Message: err.Error()}}
		}
		services = append(services, s)
	}
	ts, err := b.Targets(ctx, services...)
	if err != nil {
		return nil, err
	}
	out := make([]targetOut, 0, len(ts))
	for _, t := range ts {
		out = append(out, toTargetOut(t))
	}
	return map[string]any{"ScalableTargets": out}, nil
}

func deregisterScalableTarget(ctx context.Context, b Backend, body []byte) (any, error) {
	var in dimension
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := in.check(true)
	if err != nil {
		return nil, err
	}
	if err := b.DeregisterTarget(ctx, svc); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type policyOut struct {
	*model.ScalingPolicy
	CreationTime float64
	Alarms       []any
}

func putScalingPolicy(ctx context.Context, b Backend, body []byte) (any, error) {
	var in model.ScalingPolicy
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	in.PolicyARN, in.CreationTime = "", nil
	p, err := b.PutPolicy(ctx, &in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"PolicyARN": p.PolicyARN, "Alarms": []any{}}, nil
}

func describeScalingPolicies(ctx context.Context, b Backend, body []byte) (any, error) {
	var in struct {
		dimension
		PolicyNames []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := in.check(false)
	if err != nil {
		return nil, err
	}
	ps, err := b.Policies(ctx, svc)
	if err != nil {
		return nil, err
	}
	out := []policyOut{}
	for _, p := range ps {
		if len(in.PolicyNames) > 0 && !slices.Contains(in.PolicyNames, p.PolicyName) {
			continue
		}
		out = append(out, policyOut{ScalingPolicy: p, CreationTime: epoch(p.CreationTime), Alarms: []any{}})
	}
	return map[string]any{"ScalingPolicies": out}, nil
}

func deleteScalingPolicy(ctx context.Context, b Backend, body []byte) (any, error) {
	var in struct {
		dimension
		PolicyName string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := in.check(true)
	if err != nil {
		return nil, err
	}
	if in.PolicyName == "" {
		return nil, model.FieldErrors{{Path: "PolicyName", Message: "is required"}}
	}
	if err := b.DeletePolicy(ctx, svc, in.PolicyName); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type activityOut struct {
	ActivityId        string
	ServiceNamespace  string
	ResourceId        string
	ScalableDimension string
	Description       string
	Cause             string
	StartTime         float64
	EndTime           float64
	StatusCode        string
	StatusMessage     string `json:",omitempty"`
}

func describeScalingActivities(ctx context.Context, b Backend, body []byte) (any, error) {
	var in dimension
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := in.check(false)
	if err != nil {
		return nil, err
	}
	var ts []*model.ScalableTarget
	if svc != "" {
		ts, err = b.Targets(ctx, svc)
	} else {
		ts, err = b.Targets(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := []activityOut{}
	for _, t := range ts {
		for _, a := range t.Activities {
			out = append(out, activityOut{ActivityId: a.ActivityId, ServiceNamespace: a.ServiceNamespace, ResourceId: a.ResourceId,
				ScalableDimension: a.ScalableDimension, Description: a.Description, Cause: a.Cause, StartTime: epoch(&a.StartTime),
				EndTime: epoch(&a.EndTime), StatusCode: a.StatusCode, StatusMessage: a.StatusMessage})
		}
	}
	// Newest first, as AWS lists them.
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartTime > out[j].StartTime })
	return map[string]any{"ScalingActivities": out}, nil
}
