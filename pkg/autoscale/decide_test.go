package autoscale

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func target(lo, hi int) *model.ScalableTarget {
	return &model.ScalableTarget{ServiceNamespace: "ecs", ResourceId: "service/default/web",
		ScalableDimension: model.ScalableDimensionECSDesire, MinCapacity: &lo, MaxCapacity: &hi, ScaleToZeroAfterSeconds: ptr(30)}
}

func idleTarget(lo, hi, idle int) *model.ScalableTarget {
	t := target(lo, hi)
	t.ScaleToZeroAfterSeconds = &idle
	return t
}

func backlogPolicy(queue string, perTask float64) *model.ScalingPolicy {
	return &model.ScalingPolicy{PolicyName: "backlog", PolicyType: model.PolicyTargetTracking,
		TargetTrackingScalingPolicyConfiguration: &model.TargetTrackingConfiguration{TargetValue: &perTask,
			CustomizedMetricSpecification: &model.CustomizedMetricSpecification{MetricName: model.MetricBacklogPerTask,
				Namespace: model.MetricNamespaceSQS, Dimensions: []model.MetricDimension{{Name: "QueueName", Value: queue}}}}}
}

func cpuPolicy(t float64) *model.ScalingPolicy {
	return &model.ScalingPolicy{PolicyName: "cpu", PolicyType: model.PolicyTargetTracking,
		TargetTrackingScalingPolicyConfiguration: &model.TargetTrackingConfiguration{TargetValue: &t,
			PredefinedMetricSpecification: &model.PredefinedMetricSpecification{PredefinedMetricType: model.MetricECSCPU}}}
}

// step is one evaluation in a scenario: time offset, current count, metrics,
// and the count the decision must leave (want).
type step struct {
	at      time.Duration
	current int
	m       Metrics
	want    int
	cause   string // substring of the cause, when set
}

func run(t *testing.T, tg *model.ScalableTarget, ps []*model.ScalingPolicy, steps []step) {
	t.Helper()
	var w Window
	for i, s := range steps {
		now := t0.Add(s.at)
		d := Decide(Input{Now: now, Target: tg, Policies: ps, Current: s.current, Metrics: s.m}, &w)
		if d.Desired != s.want || d.Change != (s.want != s.current) {
			t.Fatalf("step %d (t+%s, current %d): desired %d change %v, want %d (cause %q)", i, s.at, s.current, d.Desired, d.Change, s.want, d.Cause)
		}
		if s.cause != "" && !strings.Contains(d.Cause, s.cause) {
			t.Fatalf("step %d: cause %q does not mention %q", i, d.Cause, s.cause)
		}
		if d.Change {
			n := now
			if d.Direction > 0 {
				tg.LastScaleOut = &n
			} else {
				tg.LastScaleIn = &n
			}
		}
	}
}

func backlog(running, n int) Metrics {
	return Metrics{Running: running, Backlog: map[string]int{"orders": n}}
}

func TestBacklogTargetTracking(t *testing.T) {
	tests := []struct {
		name  string
		tg    *model.ScalableTarget
		steps []step
	}{
		{"wakes from zero on the first message", target(0, 20), []step{
			{0, 0, backlog(0, 0), 0, "within target"},
			{time.Second, 0, backlog(0, 1), 1, "woke from zero"},
		}},
		{"scales out at once to ceil(backlog/target), capped at max", target(0, 20), []step{
			{0, 1, backlog(1, 42), 9, "queue orders holds 42"},
			{time.Second, 9, backlog(1, 420), 20, ""},
		}},
		{"never below min", target(2, 5), []step{
			{0, 2, backlog(2, 0), 2, ""},
			{0, 1, backlog(1, 0), 2, "outside MinCapacity"},
			{0, 9, backlog(9, 100), 5, "outside"},
		}},
		{"scale in waits a full window and takes its highest recommendation", target(0, 20), []step{
			{0, 10, backlog(10, 50), 10, ""},
			{30 * time.Second, 10, backlog(10, 20), 10, "waits"},
			{61 * time.Second, 10, backlog(10, 20), 10, "do not allow"}, // t=0's 10 held until t=30
			{70 * time.Second, 10, backlog(10, 30), 10, ""},
			{91 * time.Second, 10, backlog(10, 20), 6, "held at 6"}, // 4 now, 6 at t=70
			{92 * time.Second, 6, backlog(6, 0), 6, "cooldown"},
			{152 * time.Second, 6, backlog(6, 0), 0, "idle for 30s"},
		}},
		{"scale to zero only after the idle period", idleTarget(0, 20, 90), []step{
			{0, 1, backlog(1, 3), 1, ""},
			{61 * time.Second, 1, backlog(1, 0), 1, ""},  // queue empty since t=61
			{122 * time.Second, 1, backlog(1, 0), 1, ""}, // 61 s: stable at 0, but not idle for 90 s
			{152 * time.Second, 1, backlog(1, 0), 0, "idle for 1m30s"},
		}},
		{"a message during the idle period resets it", target(0, 20), []step{
			{0, 1, backlog(1, 0), 1, ""},
			{50 * time.Second, 1, backlog(1, 1), 1, ""},
			{70 * time.Second, 1, backlog(1, 0), 1, ""},
			{81 * time.Second, 1, backlog(1, 0), 1, ""},
			{110 * time.Second, 1, backlog(1, 0), 1, ""}, // the message at t=50 held until t=70
			{131 * time.Second, 1, backlog(1, 0), 0, ""},
		}},
		{"no queue measurement: no decision", target(0, 20), []step{
			{0, 3, Metrics{Running: 3}, 3, "no policy has metrics"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, tt.tg, []*model.ScalingPolicy{backlogPolicy("orders", 5)}, tt.steps)
		})
	}
}

func TestCPUTargetTracking(t *testing.T) {
	cpu := func(running int, pct float64) Metrics { return Metrics{Running: running, CPU: &pct} }
	run(t, target(1, 10), []*model.ScalingPolicy{cpuPolicy(50)}, []step{
		{0, 1, Metrics{Running: 0}, 1, "no policy has metrics"},
		{time.Second, 1, cpu(1, 100), 2, "CPU 100% over 1 running tasks"},
		{2 * time.Second, 2, cpu(1, 100), 2, ""}, // new task not running yet: no second scale-out
		{10 * time.Second, 2, cpu(2, 100), 4, ""},
		{20 * time.Second, 4, cpu(4, 50), 4, "within target"},
		{25 * time.Second, 4, cpu(4, 10), 4, "waits"},
		{90 * time.Second, 4, cpu(4, 10), 1, ""},
	})
}

func TestDisableScaleInAndMultiplePolicies(t *testing.T) {
	p := backlogPolicy("orders", 5)
	p.TargetTrackingScalingPolicyConfiguration.DisableScaleIn = true
	run(t, target(0, 10), []*model.ScalingPolicy{p}, []step{
		{0, 3, backlog(3, 0), 3, ""},
		{300 * time.Second, 3, backlog(3, 0), 3, ""},
	})
	// One policy wanting more keeps the count: scale in needs all to agree.
	pct := 90.0
	run(t, target(0, 10), []*model.ScalingPolicy{backlogPolicy("orders", 5), cpuPolicy(50)}, []step{
		{0, 3, Metrics{Running: 3, CPU: &pct, Backlog: map[string]int{"orders": 0}}, 6, "cpu"},
	})
}

func TestStepScaling(t *testing.T) {
	thr := 10.0
	p := &model.ScalingPolicy{PolicyName: "steps", PolicyType: model.PolicyStepScaling,
		StepScalingPolicyConfiguration: &model.StepScalingConfiguration{AdjustmentType: model.AdjustChangeInCapacity, Cooldown: ptr(30),
			Threshold: &thr, Metric: &model.MetricSpecification{CustomizedMetricSpecification: backlogPolicy("orders", 1).Metric().CustomizedMetricSpecification},
			StepAdjustments: []model.StepAdjustment{
				{MetricIntervalUpperBound: ptr(-5.0), ScalingAdjustment: -1},
				{MetricIntervalLowerBound: ptr(0.0), MetricIntervalUpperBound: ptr(20.0), ScalingAdjustment: 1},
				{MetricIntervalLowerBound: ptr(20.0), ScalingAdjustment: 3},
			}}}
	run(t, target(1, 10), []*model.ScalingPolicy{p}, []step{
		{0, 2, backlog(2, 24), 3, "step ChangeInCapacity 1"}, // 12 per task: +1
		{10 * time.Second, 3, backlog(3, 120), 3, ""},        // within the 30 s cooldown
		{40 * time.Second, 3, backlog(3, 120), 6, ""},        // 40 per task: +3
		{45 * time.Second, 6, backlog(6, 60), 6, ""},         // between steps: none matches
		{80 * time.Second, 6, backlog(6, 6), 5, ""},          // 1 per task: -1
	})
}

// TestNoFlapping drives a load that oscillates every 20 s between idle and
// a burst for 10 minutes and counts direction changes: at most one per 60 s.
func TestNoFlapping(t *testing.T) {
	tg := target(0, 20)
	ps := []*model.ScalingPolicy{backlogPolicy("orders", 5)}
	var w Window
	cur, lastDir, changes := 0, 0, 0
	var lastChange time.Time
	for s := 0; s < 600; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		n := 0
		if (s/20)%2 == 0 {
			n = 50
		}
		d := Decide(Input{Now: now, Target: tg, Policies: ps, Current: cur, Metrics: backlog(cur, n)}, &w)
		if !d.Change {
			continue
		}
		if lastDir != 0 && d.Direction != lastDir {
			if !lastChange.IsZero() && now.Sub(lastChange) < 60*time.Second {
				t.Fatalf("direction changed twice within %s (at t+%ds)", now.Sub(lastChange), s)
			}
			changes++
			lastChange = now
		}
		lastDir = d.Direction
		cur = d.Desired
		if d.Direction > 0 {
			tg.LastScaleOut = &now
		} else {
			tg.LastScaleIn = &now
		}
	}
	if changes > 10 {
		t.Fatalf("%d direction changes in 10 minutes, want at most 10", changes)
	}
}
