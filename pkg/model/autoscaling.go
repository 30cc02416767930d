package model

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Application Auto Scaling constants Orch understands. Only ECS services
// scale, along their desired count.
const (
	ServiceNamespaceECS        = "ecs"
	ScalableDimensionECSDesire = "ecs:service:DesiredCount"

	PolicyTargetTracking = "TargetTrackingScaling"
	PolicyStepScaling    = "StepScaling"

	MetricECSCPU    = "ECSServiceAverageCPUUtilization"
	MetricECSMemory = "ECSServiceAverageMemoryUtilization"
	// MetricBacklogPerTask is the customized metric Orch computes itself:
	// a queue's visible plus in-flight messages divided by the service's
	// running tasks. CustomizedMetricSpecification names it with
	// Namespace "AWS/SQS", MetricName "BacklogPerTask" and the dimension
	// QueueName.
	MetricNamespaceSQS   = "AWS/SQS"
	MetricBacklogPerTask = "BacklogPerTask"
	DimensionQueueName   = "QueueName"

	AdjustChangeInCapacity        = "ChangeInCapacity"
	AdjustExactCapacity           = "ExactCapacity"
	AdjustPercentChangeInCapacity = "PercentChangeInCapacity"

	ActivitySuccessful = "Successful"
)

// Autoscaling defaults (documented in docs/autoscaling.md).
const (
	// DefaultScaleInCooldown is the least time after any scaling action
	// before a scale-in, and the window over which scale-in takes the
	// highest recommendation (stabilisation): a load that oscillates
	// faster than this never scales in and out again.
	DefaultScaleInCooldown = 60
	// DefaultScaleOutCooldown is 0: target tracking computes the exact
	// count needed, so scaling out again at once cannot overshoot.
	DefaultScaleOutCooldown = 0
	// DefaultScaleToZeroAfter is how long a queue must stay empty before a
	// service with MinCapacity 0 goes to zero tasks.
	DefaultScaleToZeroAfter = 60
	// MaxScalingActivities bounds the activity history kept per target.
	MaxScalingActivities = 50
	// MaxScalingCapacity bounds MaxCapacity (ECS's tasks per service).
	MaxScalingCapacity = MaxServiceDesiredCount
)

// ScalableTarget is Application Auto Scaling's RegisterScalableTarget input
// plus what Orch keeps for it: its activity history and the times of its
// last actions (so a new leader keeps the cooldowns). It lives in one etcd
// key per service.
type ScalableTarget struct {
	ServiceNamespace  string `json:"ServiceNamespace"`
	ResourceId        string `json:"ResourceId"` // service/<cluster>/<service>
	ScalableDimension string `json:"ScalableDimension"`
	MinCapacity       *int   `json:"MinCapacity,omitempty"`
	MaxCapacity       *int   `json:"MaxCapacity,omitempty"`
	// ScaleToZeroAfterSeconds (Orch) is the idle period before a service
	// whose MinCapacity is 0 scales to zero; default 60.
	ScaleToZeroAfterSeconds *int `json:"ScaleToZeroAfterSeconds,omitempty"`

	ScalableTargetARN string     `json:"ScalableTargetARN,omitempty"`
	CreationTime      *time.Time `json:"CreationTime,omitempty"`

	// Controller state.
	LastScaleOut *time.Time        `json:"LastScaleOut,omitempty"`
	LastScaleIn  *time.Time        `json:"LastScaleIn,omitempty"`
	Activities   []ScalingActivity `json:"Activities,omitempty"`

	ModRevision int64 `json:"-"`
}

// ScalingPolicy is PutScalingPolicy's input (AWS field names).
type ScalingPolicy struct {
	PolicyName                               string                       `json:"PolicyName"`
	ServiceNamespace                         string                       `json:"ServiceNamespace"`
	ResourceId                               string                       `json:"ResourceId"`
	ScalableDimension                        string                       `json:"ScalableDimension"`
	PolicyType                               string                       `json:"PolicyType,omitempty"`
	TargetTrackingScalingPolicyConfiguration *TargetTrackingConfiguration `json:"TargetTrackingScalingPolicyConfiguration,omitempty"`
	StepScalingPolicyConfiguration           *StepScalingConfiguration    `json:"StepScalingPolicyConfiguration,omitempty"`

	PolicyARN    string     `json:"PolicyARN,omitempty"`
	CreationTime *time.Time `json:"CreationTime,omitempty"`

	ModRevision int64 `json:"-"`
}

// TargetTrackingConfiguration keeps a metric near TargetValue.
type TargetTrackingConfiguration struct {
	TargetValue                   *float64                       `json:"TargetValue,omitempty"`
	PredefinedMetricSpecification *PredefinedMetricSpecification `json:"PredefinedMetricSpecification,omitempty"`
	CustomizedMetricSpecification *CustomizedMetricSpecification `json:"CustomizedMetricSpecification,omitempty"`
	ScaleOutCooldown              *int                           `json:"ScaleOutCooldown,omitempty"`
	ScaleInCooldown               *int                           `json:"ScaleInCooldown,omitempty"`
	DisableScaleIn                bool                           `json:"DisableScaleIn,omitempty"`
}

// PredefinedMetricSpecification names a metric Orch measures from the
// tasks' usage samples.
type PredefinedMetricSpecification struct {
	PredefinedMetricType string `json:"PredefinedMetricType"`
	ResourceLabel        string `json:"ResourceLabel,omitempty"`
}

// CustomizedMetricSpecification is AWS's shape; Orch understands the
// queue backlog per task (see MetricBacklogPerTask).
type CustomizedMetricSpecification struct {
	MetricName string            `json:"MetricName,omitempty"`
	Namespace  string            `json:"Namespace,omitempty"`
	Dimensions []MetricDimension `json:"Dimensions,omitempty"`
	Statistic  string            `json:"Statistic,omitempty"`
	Unit       string            `json:"Unit,omitempty"`
}

// MetricDimension is a name and value.
type MetricDimension struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// StepScalingConfiguration is AWS's. AWS runs a step policy when a
// CloudWatch alarm fires; Orch has no alarms, so it takes the metric and
// the alarm's threshold here (Orch fields Metric and Threshold): the step
// bounds are relative to Threshold, as they are to an alarm's.
type StepScalingConfiguration struct {
	AdjustmentType         string           `json:"AdjustmentType,omitempty"`
	StepAdjustments        []StepAdjustment `json:"StepAdjustments,omitempty"`
	Cooldown               *int             `json:"Cooldown,omitempty"`
	MinAdjustmentMagnitude *int             `json:"MinAdjustmentMagnitude,omitempty"`
	MetricAggregationType  string           `json:"MetricAggregationType,omitempty"`
	// Orch: the metric the steps act on and the alarm threshold.
	Metric    *MetricSpecification `json:"Metric,omitempty"`
	Threshold *float64             `json:"Threshold,omitempty"`
}

// MetricSpecification is one of the two AWS metric forms.
type MetricSpecification struct {
	PredefinedMetricSpecification *PredefinedMetricSpecification `json:"PredefinedMetricSpecification,omitempty"`
	CustomizedMetricSpecification *CustomizedMetricSpecification `json:"CustomizedMetricSpecification,omitempty"`
}

// StepAdjustment is AWS's: when threshold+lower <= metric < threshold+upper,
// adjust by ScalingAdjustment.
type StepAdjustment struct {
	MetricIntervalLowerBound *float64 `json:"MetricIntervalLowerBound,omitempty"`
	MetricIntervalUpperBound *float64 `json:"MetricIntervalUpperBound,omitempty"`
	ScalingAdjustment        int      `json:"ScalingAdjustment"`
}

// ScalingActivity is one change of a service's desired count and why
// (DescribeScalingActivities).
type ScalingActivity struct {
	ActivityId        string    `json:"ActivityId"`
	ServiceNamespace  string    `json:"ServiceNamespace"`
	ResourceId        string    `json:"ResourceId"`
	ScalableDimension string    `json:"ScalableDimension"`
	Description       string    `json:"Description"`
	Cause             string    `json:"Cause"`
	StartTime         time.Time `json:"StartTime"`
	EndTime           time.Time `json:"EndTime"`
	StatusCode        string    `json:"StatusCode"`
	StatusMessage     string    `json:"StatusMessage,omitempty"`
}

// ScalingResourceID is the ResourceId of a service's scalable target.
func ScalingResourceID(service string) string { return "service/default/" + service }

// ServiceOfResourceID returns the service a ResourceId names
// ("service/<cluster>/<service>"), or an error saying what is wrong.
func ServiceOfResourceID(id string) (string, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] != "service" || parts[1] == "" || parts[2] == "" {
		return "", fmt.Errorf("%q is not service/<cluster>/<service> (for example service/default/web)", id)
	}
	if !ValidName(parts[2], MaxNameLength) {
		return "", fmt.Errorf("service name %q must be 1-255 letters, digits, hyphens or underscores", parts[2])
	}
	return parts[2], nil
}

// ScalableTargetARNFor builds the ARN of a service's scalable target.
func ScalableTargetARNFor(service string) string {
	return fmt.Sprintf("arn:aws:application-autoscaling:%s:%s:scalable-target/%s", Region, AccountID, service)
}

// ScalingPolicyARNFor builds the ARN of a scaling policy.
func ScalingPolicyARNFor(service, policy string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:scalingPolicy:%s:resource/ecs/%s:policyName/%s",
		Region, AccountID, service, ScalingResourceID(service), policy)
}

// Service returns the service the target scales (its ResourceId's last part).
func (t *ScalableTarget) Service() string {
	s, _ := ServiceOfResourceID(t.ResourceId)
	return s
}

// Service returns the service the policy scales.
func (p *ScalingPolicy) Service() string {
	s, _ := ServiceOfResourceID(p.ResourceId)
	return s
}

// Bounds returns MinCapacity and MaxCapacity (0 when unset).
func (t *ScalableTarget) Bounds() (lo, hi int) {
	if t.MinCapacity != nil {
		lo = *t.MinCapacity
	}
	if t.MaxCapacity != nil {
		hi = *t.MaxCapacity
	}
	return lo, hi
}

// ScaleToZeroAfter returns the idle period before scaling to zero.
func (t *ScalableTarget) ScaleToZeroAfter() time.Duration {
	if t.ScaleToZeroAfterSeconds != nil {
		return time.Duration(*t.ScaleToZeroAfterSeconds) * time.Second
	}
	return DefaultScaleToZeroAfter * time.Second
}

// AddActivity records an activity, keeping the newest MaxScalingActivities.
func (t *ScalableTarget) AddActivity(a ScalingActivity) {
	t.Activities = append(t.Activities, a)
	if n := len(t.Activities); n > MaxScalingActivities {
		t.Activities = append(t.Activities[:0:0], t.Activities[n-MaxScalingActivities:]...)
	}
}

// LastActivity returns the newest activity or nil.
func (t *ScalableTarget) LastActivity() *ScalingActivity {
	if len(t.Activities) == 0 {
		return nil
	}
	return &t.Activities[len(t.Activities)-1]
}

func validateDimension(errs *FieldErrors, ns, id, dim string) {
	if ns != ServiceNamespaceECS {
		errs.Add("ServiceNamespace", fmt.Sprintf("must be %q (Orch scales ECS services), got %q", ServiceNamespaceECS, ns))
	}
	if id == "" {
		errs.Add("ResourceId", "is required: service/<cluster>/<service>, for example service/default/web")
	} else if _, err := ServiceOfResourceID(id); err != nil {
		errs.Add("ResourceId", err.Error())
	}
	if dim != ScalableDimensionECSDesire {
		errs.Add("ScalableDimension", fmt.Sprintf("must be %q, got %q", ScalableDimensionECSDesire, dim))
	}
}

// Validate checks a target (after defaults from an existing registration
// were merged in by the caller).
func (t *ScalableTarget) Validate() error {
	var errs FieldErrors
	validateDimension(&errs, t.ServiceNamespace, t.ResourceId, t.ScalableDimension)
	if t.MinCapacity == nil {
		errs.Add("MinCapacity", "is required when registering a new scalable target (0 lets the service scale to zero)")
	} else if *t.MinCapacity < 0 || *t.MinCapacity > MaxScalingCapacity {
		errs.Add("MinCapacity", fmt.Sprintf("must be between 0 and %d, got %d", MaxScalingCapacity, *t.MinCapacity))
	}
	if t.MaxCapacity == nil {
		errs.Add("MaxCapacity", "is required when registering a new scalable target")
	} else if *t.MaxCapacity < 0 || *t.MaxCapacity > MaxScalingCapacity {
		errs.Add("MaxCapacity", fmt.Sprintf("must be between 0 and %d, got %d", MaxScalingCapacity, *t.MaxCapacity))
	} else if t.MinCapacity != nil && *t.MinCapacity > *t.MaxCapacity {
		errs.Add("MaxCapacity", fmt.Sprintf("%d is below MinCapacity %d; raise MaxCapacity or lower MinCapacity", *t.MaxCapacity, *t.MinCapacity))
	}
	if s := t.ScaleToZeroAfterSeconds; s != nil && (*s < 0 || *s > 86400) {
		errs.Add("ScaleToZeroAfterSeconds", fmt.Sprintf("must be between 0 and 86400, got %d", *s))
	}
	return errs.Err()
}

// Validate checks a policy against PutScalingPolicy's rules and what Orch
// can measure. Paths use AWS's field names.
func (p *ScalingPolicy) Validate() error {
	var errs FieldErrors
	if p.PolicyName == "" {
		errs.Add("PolicyName", "is required")
	} else if len(p.PolicyName) > 256 || strings.ContainsAny(p.PolicyName, ":/") {
		errs.Add("PolicyName", "must be 1-256 characters without ':' or '/'")
	}
	validateDimension(&errs, p.ServiceNamespace, p.ResourceId, p.ScalableDimension)
	switch p.PolicyType {
	case PolicyTargetTracking, "":
		if p.StepScalingPolicyConfiguration != nil {
			errs.Add("StepScalingPolicyConfiguration", "is for PolicyType StepScaling; this policy is TargetTrackingScaling")
		}
		if c := p.TargetTrackingScalingPolicyConfiguration; c == nil {
			errs.Add("TargetTrackingScalingPolicyConfiguration", "is required for PolicyType TargetTrackingScaling")
		} else {
			c.validate(&errs, "TargetTrackingScalingPolicyConfiguration")
		}
	case PolicyStepScaling:
		if p.TargetTrackingScalingPolicyConfiguration != nil {
			errs.Add("TargetTrackingScalingPolicyConfiguration", "is for PolicyType TargetTrackingScaling; this policy is StepScaling")
		}
		if c := p.StepScalingPolicyConfiguration; c == nil {
			errs.Add("StepScalingPolicyConfiguration", "is required for PolicyType StepScaling")
		} else {
			c.validate(&errs, "StepScalingPolicyConfiguration")
		}
	default:
		errs.Add("PolicyType", fmt.Sprintf("must be %s or %s, got %q", PolicyTargetTracking, PolicyStepScaling, p.PolicyType))
	}
	return errs.Err()
}

func (c *TargetTrackingConfiguration) validate(errs *FieldErrors, path string) {
	if c.TargetValue == nil {
		errs.Add(path+".TargetValue", "is required: the value to keep the metric at (for example 50 for 50% CPU, or 5 messages per task)")
	} else if *c.TargetValue <= 0 || *c.TargetValue > 1e9 {
		errs.Add(path+".TargetValue", fmt.Sprintf("must be above 0, got %g", *c.TargetValue))
	}
	validateMetric(errs, path, c.PredefinedMetricSpecification, c.CustomizedMetricSpecification)
	validateCooldown(errs, path+".ScaleOutCooldown", c.ScaleOutCooldown)
	validateCooldown(errs, path+".ScaleInCooldown", c.ScaleInCooldown)
}

func validateCooldown(errs *FieldErrors, path string, v *int) {
	if v != nil && (*v < 0 || *v > 86400) {
		errs.Add(path, fmt.Sprintf("must be between 0 and 86400 seconds, got %d", *v))
	}
}

func validateMetric(errs *FieldErrors, path string, pre *PredefinedMetricSpecification, cus *CustomizedMetricSpecification) {
	switch {
	case pre == nil && cus == nil:
		errs.Add(path+".PredefinedMetricSpecification", fmt.Sprintf("one of PredefinedMetricSpecification (%s or %s) or CustomizedMetricSpecification (%s %s with dimension %s) is required",
			MetricECSCPU, MetricECSMemory, MetricNamespaceSQS, MetricBacklogPerTask, DimensionQueueName))
	case pre != nil && cus != nil:
		errs.Add(path+".CustomizedMetricSpecification", "give either PredefinedMetricSpecification or CustomizedMetricSpecification, not both")
	case pre != nil:
		if pre.PredefinedMetricType != MetricECSCPU && pre.PredefinedMetricType != MetricECSMemory {
			errs.Add(path+".PredefinedMetricSpecification.PredefinedMetricType", fmt.Sprintf("must be %s or %s, got %q", MetricECSCPU, MetricECSMemory, pre.PredefinedMetricType))
		}
	default:
		p := path + ".CustomizedMetricSpecification"
		if cus.MetricName != MetricBacklogPerTask {
			errs.Add(p+".MetricName", fmt.Sprintf("must be %s (the queue backlog per task), got %q", MetricBacklogPerTask, cus.MetricName))
		}
		if cus.Namespace != "" && cus.Namespace != MetricNamespaceSQS {
			errs.Add(p+".Namespace", fmt.Sprintf("must be %s, got %q", MetricNamespaceSQS, cus.Namespace))
		}
		if q := cus.QueueName(); q == "" {
			errs.Add(p+".Dimensions", fmt.Sprintf("needs {Name: %s, Value: <queue name>}: the queue whose backlog to follow", DimensionQueueName))
		} else if !ValidName(strings.TrimSuffix(q, ".fifo"), 80) {
			errs.Add(p+".Dimensions", fmt.Sprintf("queue name %q must be 1-80 letters, digits, hyphens or underscores", q))
		}
	}
}

// QueueName returns the QueueName dimension's value, or "".
func (c *CustomizedMetricSpecification) QueueName() string {
	for _, d := range c.Dimensions {
		if d.Name == DimensionQueueName {
			return d.Value
		}
	}
	return ""
}

func (c *StepScalingConfiguration) validate(errs *FieldErrors, path string) {
	switch c.AdjustmentType {
	case AdjustChangeInCapacity, AdjustExactCapacity, AdjustPercentChangeInCapacity:
	default:
		errs.Add(path+".AdjustmentType", fmt.Sprintf("must be %s, %s or %s, got %q", AdjustChangeInCapacity, AdjustExactCapacity, AdjustPercentChangeInCapacity, c.AdjustmentType))
	}
	if len(c.StepAdjustments) == 0 {
		errs.Add(path+".StepAdjustments", "needs at least one step")
	}
	for i, s := range c.StepAdjustments {
		sp := fmt.Sprintf("%s.StepAdjustments[%d]", path, i)
		if s.MetricIntervalLowerBound == nil && s.MetricIntervalUpperBound == nil {
			errs.Add(sp, "needs MetricIntervalLowerBound or MetricIntervalUpperBound (null means unbounded on that side)")
		}
		if l, u := s.MetricIntervalLowerBound, s.MetricIntervalUpperBound; l != nil && u != nil && *l >= *u {
			errs.Add(sp+".MetricIntervalUpperBound", fmt.Sprintf("%g must be above MetricIntervalLowerBound %g", *u, *l))
		}
		if c.AdjustmentType == AdjustExactCapacity && s.ScalingAdjustment < 0 {
			errs.Add(sp+".ScalingAdjustment", "must be 0 or more with ExactCapacity")
		}
	}
	validateCooldown(errs, path+".Cooldown", c.Cooldown)
	if c.Metric == nil {
		errs.Add(path+".Metric", "is required in Orch (there are no CloudWatch alarms): the metric the steps act on, as in target tracking")
	} else {
		validateMetric(errs, path+".Metric", c.Metric.PredefinedMetricSpecification, c.Metric.CustomizedMetricSpecification)
	}
	if c.Threshold == nil {
		errs.Add(path+".Threshold", "is required in Orch: the alarm threshold the step bounds are relative to")
	}
}

// Metric returns the metric a policy follows.
func (p *ScalingPolicy) Metric() MetricSpecification {
	if c := p.TargetTrackingScalingPolicyConfiguration; c != nil {
		return MetricSpecification{c.PredefinedMetricSpecification, c.CustomizedMetricSpecification}
	}
	if c := p.StepScalingPolicyConfiguration; c != nil && c.Metric != nil {
		return *c.Metric
	}
	return MetricSpecification{}
}

// NewActivityID returns a fresh activity id (a UUID, as AWS's are).
func NewActivityID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ServiceAutoScaling is the short form inside `kind: Service` for the
// common case: "scale on queue X, N messages per task, between min and
// max tasks" (and/or a CPU or memory target). Applying the service maps it
// onto a ScalableTarget and ScalingPolicies named <service>-backlog,
// <service>-cpu and <service>-memory, the same objects the Application
// Auto Scaling API manages.
type ServiceAutoScaling struct {
	MinCapacity             int      `json:"minCapacity"`
	MaxCapacity             int      `json:"maxCapacity"`
	Queue                   string   `json:"queue,omitempty"`
	MessagesPerTask         *float64 `json:"messagesPerTask,omitempty"`
	CPUPercent              *float64 `json:"cpuPercent,omitempty"`
	MemoryPercent           *float64 `json:"memoryPercent,omitempty"`
	ScaleToZeroAfterSeconds *int     `json:"scaleToZeroAfterSeconds,omitempty"`
	ScaleInCooldown         *int     `json:"scaleInCooldown,omitempty"`
}

// ShortFormPolicySuffixes are the names' suffixes the short form owns.
var ShortFormPolicySuffixes = []string{"-backlog", "-cpu", "-memory"}

// Objects returns the target and policies the short form stands for.
func (a *ServiceAutoScaling) Objects(service string) (*ScalableTarget, []*ScalingPolicy) {
	id := ScalingResourceID(service)
	lo, hi := a.MinCapacity, a.MaxCapacity
	t := &ScalableTarget{ServiceNamespace: ServiceNamespaceECS, ResourceId: id, ScalableDimension: ScalableDimensionECSDesire,
		MinCapacity: &lo, MaxCapacity: &hi, ScaleToZeroAfterSeconds: a.ScaleToZeroAfterSeconds}
	policy := func(suffix string, target float64, pre *PredefinedMetricSpecification, cus *CustomizedMetricSpecification) *ScalingPolicy {
		v := target
		return &ScalingPolicy{PolicyName: service + suffix, ServiceNamespace: ServiceNamespaceECS, ResourceId: id,
			ScalableDimension: ScalableDimensionECSDesire, PolicyType: PolicyTargetTracking,
			TargetTrackingScalingPolicyConfiguration: &TargetTrackingConfiguration{TargetValue: &v, ScaleInCooldown: a.ScaleInCooldown,
				PredefinedMetricSpecification: pre, CustomizedMetricSpecification: cus}}
	}
	var ps []*ScalingPolicy
	if a.Queue != "" {
		per := 5.0
		if a.MessagesPerTask != nil {
			per = *a.MessagesPerTask
		}
		ps = append(ps, policy("-backlog", per, nil, &CustomizedMetricSpecification{MetricName: MetricBacklogPerTask,
			Namespace: MetricNamespaceSQS, Statistic: "Average", Dimensions: []MetricDimension{{Name: DimensionQueueName, Value: a.Queue}}}))
	}
	if a.CPUPercent != nil {
		ps = append(ps, policy("-cpu", *a.CPUPercent, &PredefinedMetricSpecification{PredefinedMetricType: MetricECSCPU}, nil))
	}
	if a.MemoryPercent != nil {
		ps = append(ps, policy("-memory", *a.MemoryPercent, &PredefinedMetricSpecification{PredefinedMetricType: MetricECSMemory}, nil))
	}
	return t, ps
}

func (a *ServiceAutoScaling) validate(errs *FieldErrors, service string) {
	if a.Queue == "" && a.CPUPercent == nil && a.MemoryPercent == nil {
		errs.Add("autoScaling", "needs queue (with messagesPerTask), cpuPercent or memoryPercent: what to scale on")
	}
	if a.Queue == "" && a.MessagesPerTask != nil {
		errs.Add("autoScaling.queue", "is required with messagesPerTask: the queue whose backlog to follow")
	}
	if a.MinCapacity > 0 || a.MaxCapacity > 0 || a.Queue != "" || a.CPUPercent != nil || a.MemoryPercent != nil {
		// Map onto the long form and report its errors at the short form's paths.
		t, ps := a.Objects(service)
		paths := map[string]string{"MinCapacity": "autoScaling.minCapacity", "MaxCapacity": "autoScaling.maxCapacity",
			"ScaleToZeroAfterSeconds": "autoScaling.scaleToZeroAfterSeconds"}
		if err := t.Validate(); err != nil {
			for _, e := range err.(FieldErrors) {
				if p, ok := paths[e.Path]; ok {
					errs.Add(p, e.Message)
				}
			}
		}
		if a.MinCapacity > 0 && a.MaxCapacity == 0 {
			errs.Add("autoScaling.maxCapacity", "is required: the most tasks to run")
		}
		for _, p := range ps {
			if err := p.Validate(); err != nil {
				for _, e := range err.(FieldErrors) {
					switch {
					case strings.HasSuffix(e.Path, ".TargetValue"):
						field := map[string]string{"-backlog": "messagesPerTask", "-cpu": "cpuPercent", "-memory": "memoryPercent"}[strings.TrimPrefix(p.PolicyName, service)]
						errs.Add("autoScaling."+field, e.Message)
					case strings.HasSuffix(e.Path, ".Dimensions"):
						errs.Add("autoScaling.queue", e.Message)
					case strings.HasSuffix(e.Path, "ScaleInCooldown"):
						errs.Add("autoScaling.scaleInCooldown", e.Message)
					}
				}
			}
		}
	} else {
		errs.Add("autoScaling.maxCapacity", "is required: the most tasks to run")
	}
}
