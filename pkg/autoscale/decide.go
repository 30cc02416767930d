// Package autoscale decides a service's desired count from its metrics and
// its scaling policies. Like pkg/scheduler it is a calculation: metrics,
// policies, the target's bounds and last actions and a window of recent
// recommendations in; a count and its reason out. It reads no clock, does
// no I/O and starts no goroutines, so every rule is table-tested with the
// time as an input.
//
// The rules (docs/autoscaling.md):
//   - Each policy recommends a count: target tracking keeps its metric
//     near TargetValue (backlog: ceil(messages / target); CPU and memory:
//     ceil(running × utilisation / target)); a step policy adjusts the
//     current count by the step its metric falls in.
//   - Scale out when any policy asks for more than the current count, to
//     the highest recommendation, at once (the ScaleOutCooldown, default
//     0, may delay a second scale-out). From zero there is no delay.
//   - Scale in only when every policy asks for less, to the highest
//     recommendation seen over the stabilisation window (the policy's
//     ScaleInCooldown, default 60 s), and not within that long of the last
//     action. A load oscillating faster than the window never scales in
//     and out again (no flapping).
//   - To zero only after the recommendations stayed 0 for the target's
//     ScaleToZeroAfterSeconds (default 60 s) and MinCapacity is 0.
//   - Always within [MinCapacity, MaxCapacity].
//
// Example:
//
//	var w autoscale.Window
//	d := autoscale.Decide(autoscale.Input{Now: now, Target: t, Policies: ps, Current: 2,
//		Metrics: autoscale.Metrics{Running: 2, Backlog: map[string]int{"orders": 40}}}, &w)
//	if d.Change { /* write d.Desired with d.Cause */ }
package autoscale

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// Metrics are the inputs measured for one service.
type Metrics struct {
	// Running counts the service's RUNNING tasks.
	Running int
	// CPU and Memory are the average utilisation (percent of what the
	// tasks reserve) over the running tasks with a recent sample; nil
	// when none has one.
	CPU, Memory *float64
	// Backlog is visible plus in-flight messages per queue; a queue
	// missing from the map has no measurement (its policy abstains).
	Backlog map[string]int
}

// Input is everything one decision depends on.
type Input struct {
	Now      time.Time
	Target   *model.ScalableTarget
	Policies []*model.ScalingPolicy
	// Current is the service's desired count now.
	Current int
	Metrics Metrics
}

// Decision is the outcome of one evaluation.
type Decision struct {
	// Desired is the count to write; equal to Input.Current when Change is false.
	Desired int
	Change  bool
	// Direction is +1 (out), -1 (in) or 0.
	Direction int
	// Cause says why, in words (the scaling activity's Cause), or why not.
	Cause string
	// Recommended is the count the policies ask for before stabilisation
	// and cooldowns (for /metrics); -1 when no policy had data.
	Recommended int
}

type sample struct {
	at  time.Time
	rec int
}

// Window remembers recent recommendations for stabilisation. The caller
// keeps one per target, starting from the zero value; a new leader starts
// with an empty one and so waits a full window before scaling in.
type Window struct {
	since   time.Time
	samples []sample
}

func (w *Window) add(now time.Time, rec int, keep time.Duration) {
	if w.since.IsZero() {
		w.since = now
	}
	w.samples = append(w.samples, sample{now, rec})
	// Keep one sample older than keep: its value held until the next one.
	cut := 0
	for cut+1 < len(w.samples) && now.Sub(w.samples[cut+1].at) > keep {
		cut++
	}
	w.samples = w.samples[cut:]
}

// highest returns the highest recommendation in force during the last d
// (a sample holds until the next one), and whether the window covers all
// of d.
func (w *Window) highest(now time.Time, d time.Duration) (int, bool) {
	hi := -1
	for i, s := range w.samples {
		if now.Sub(s.at) <= d || i+1 < len(w.samples) && now.Sub(w.samples[i+1].at) < d {
			hi = max(hi, s.rec)
		}
	}
	return hi, now.Sub(w.since) >= d
}

// Decide evaluates the policies and returns the count to write. It
// updates w with this evaluation's recommendation.
func Decide(in Input, w *Window) Decision {
	lo, hi := in.Target.Bounds()
	cur := in.Current
	d := Decision{Desired: cur, Recommended: -1}
	if cur < lo || cur > hi {
		d.Desired = min(max(cur, lo), hi)
		d.Change, d.Direction = true, sign(d.Desired-cur)
		d.Cause = fmt.Sprintf("desired count %d is outside MinCapacity %d and MaxCapacity %d", cur, lo, hi)
		return d
	}

	recs := make([]rec, 0, len(in.Policies))
	for _, p := range in.Policies {
		if r, ok := recommend(p, in); ok {
			recs = append(recs, r)
		}
	}
	inCool := scaleInCooldown(in.Policies)
	zeroAfter := in.Target.ScaleToZeroAfter()
	if len(recs) == 0 {
		d.Cause = "no policy has metrics yet"
		return d
	}
	top, allBelow, tracked := recs[0], true, -1
	for _, r := range recs {
		if !r.step {
			tracked = max(tracked, min(max(r.count, lo), hi))
		}
		if r.count > top.count {
			top = r
		}
		if r.count >= cur || r.noScaleIn {
			allBelow = false
		}
	}
	want := min(max(top.count, lo), hi)
	d.Recommended = want
	if tracked >= 0 {
		// Only target tracking recommends a level; a step is a relative
		// action whose own cooldown keeps it from repeating.
		w.add(in.Now, tracked, max(inCool, zeroAfter))
	}

	switch {
	case want > cur:
		if cur > 0 && in.Target.LastScaleOut != nil && in.Now.Sub(*in.Target.LastScaleOut) < top.outCool {
			d.Cause = fmt.Sprintf("scale-out to %d waits for the %s cooldown", want, top.outCool)
			return d
		}
		d.Desired, d.Change, d.Direction = want, true, 1
		d.Cause = top.why
		if cur == 0 {
			d.Cause = "woke from zero: " + top.why
		}
	case allBelow && want < cur:
		stable, covered := w.highest(in.Now, inCool)
		if tracked < 0 {
			stable, covered = want, true
		}
		if !covered {
			d.Cause = fmt.Sprintf("scale-in waits for %s of recommendations", inCool)
			return d
		}
		if last := lastAction(in.Target); last != nil && in.Now.Sub(*last) < inCool {
			d.Cause = fmt.Sprintf("scale-in waits for the %s cooldown", inCool)
			return d
		}
		target := max(stable, want)
		if target == 0 && tracked >= 0 {
			idle, covered := w.highest(in.Now, zeroAfter)
			if idle != 0 || !covered {
				target = 1
			}
		}
		target = min(max(target, lo), hi)
		if target >= cur {
			d.Cause = "recommendations in the stabilisation window do not allow a scale-in"
			return d
		}
		d.Desired, d.Change, d.Direction = target, true, -1
		d.Cause = top.why
		if target == 0 {
			d.Cause = fmt.Sprintf("idle for %s: %s", zeroAfter, top.why)
		} else if target > want {
			d.Cause = fmt.Sprintf("%s (held at %d, the highest recommendation in the last %s)", top.why, target, inCool)
		}
	default:
		d.Cause = "within target"
	}
	return d
}

type rec struct {
	count     int
	why       string
	outCool   time.Duration
	noScaleIn bool
	step      bool
}

func recommend(p *model.ScalingPolicy, in Input) (rec, bool) {
	m := in.Metrics
	value, label, ok := measure(p.Metric(), m)
	if !ok {
		return rec{}, false
	}
	if c := p.TargetTrackingScalingPolicyConfiguration; c != nil {
		t := *c.TargetValue
		r := rec{outCool: seconds(c.ScaleOutCooldown, model.DefaultScaleOutCooldown), noScaleIn: c.DisableScaleIn}
		if cus := p.Metric().CustomizedMetricSpecification; cus != nil {
			backlog := m.Backlog[cus.QueueName()]
			r.count = int(math.Ceil(float64(backlog) / t))
			r.why = fmt.Sprintf("policy %s: queue %s holds %d messages (visible+in-flight), target %s per task: %d tasks", p.PolicyName, cus.QueueName(), backlog, num(t), r.count)
		} else {
			r.count = int(math.Ceil(float64(m.Running)*value/t - 1e-9))
			r.why = fmt.Sprintf("policy %s: %s %s%% over %d running tasks, target %s%%: %d tasks", p.PolicyName, label, num(value), m.Running, num(t), r.count)
		}
		return r, true
	}
	c := p.StepScalingPolicyConfiguration
	if c == nil || c.Threshold == nil {
		return rec{}, false
	}
	diff := value - *c.Threshold
	for _, s := range c.StepAdjustments {
		if s.MetricIntervalLowerBound != nil && diff < *s.MetricIntervalLowerBound {
			continue
		}
		if s.MetricIntervalUpperBound != nil && diff >= *s.MetricIntervalUpperBound {
			continue
		}
		cool := seconds(c.Cooldown, model.DefaultScaleInCooldown)
		if last := lastAction(in.Target); last != nil && in.Now.Sub(*last) < cool && s.ScalingAdjustment != 0 && c.AdjustmentType != model.AdjustExactCapacity {
			// A relative step acts once per cooldown, as after an alarm.
			return rec{count: in.Current, why: "step cooldown", outCool: cool, step: true}, true
		}
		n := stepCount(c, s.ScalingAdjustment, in.Current)
		return rec{count: n, outCool: cool, step: true, why: fmt.Sprintf("policy %s: %s %s is %s from threshold %s, step %s %d: %d tasks",
			p.PolicyName, label, num(value), num(diff), num(*c.Threshold), c.AdjustmentType, s.ScalingAdjustment, n)}, true
	}
	return rec{}, false
}

func stepCount(c *model.StepScalingConfiguration, adj, cur int) int {
	switch c.AdjustmentType {
	case model.AdjustExactCapacity:
		return adj
	case model.AdjustPercentChangeInCapacity:
		delta := int(float64(cur) * float64(adj) / 100)
		if delta == 0 && adj != 0 {
			delta = sign(adj)
		}
		if mm := c.MinAdjustmentMagnitude; mm != nil && abs(delta) < *mm {
			delta = sign(adj) * *mm
		}
		return max(cur+delta, 0)
	default:
		return max(cur+adj, 0)
	}
}

// measure returns a policy's metric value and its name; ok is false when
// there is no measurement.
func measure(spec model.MetricSpecification, m Metrics) (float64, string, bool) {
	if pre := spec.PredefinedMetricSpecification; pre != nil {
		switch pre.PredefinedMetricType {
		case model.MetricECSCPU:
			if m.CPU == nil || m.Running == 0 {
				return 0, "", false
			}
			return *m.CPU, "CPU", true
		case model.MetricECSMemory:
			if m.Memory == nil || m.Running == 0 {
				return 0, "", false
			}
			return *m.Memory, "memory", true
		}
		return 0, "", false
	}
	if cus := spec.CustomizedMetricSpecification; cus != nil {
		b, ok := m.Backlog[cus.QueueName()]
		if !ok {
			return 0, "", false
		}
		return float64(b) / float64(max(m.Running, 1)), "backlog per task", true
	}
	return 0, "", false
}

func scaleInCooldown(ps []*model.ScalingPolicy) time.Duration {
	d := time.Duration(0)
	for _, p := range ps {
		if c := p.TargetTrackingScalingPolicyConfiguration; c != nil {
			d = max(d, seconds(c.ScaleInCooldown, model.DefaultScaleInCooldown))
		} else if c := p.StepScalingPolicyConfiguration; c != nil {
			d = max(d, seconds(c.Cooldown, model.DefaultScaleInCooldown))
		}
	}
	return d
}

func lastAction(t *model.ScalableTarget) *time.Time {
	switch {
	case t.LastScaleOut == nil:
		return t.LastScaleIn
	case t.LastScaleIn == nil || t.LastScaleOut.After(*t.LastScaleIn):
		return t.LastScaleOut
	default:
		return t.LastScaleIn
	}
}

func seconds(v *int, def int) time.Duration {
	if v != nil {
		return time.Duration(*v) * time.Second
	}
	return time.Duration(def) * time.Second
}

func num(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

func sign(n int) int {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}

func abs(n int) int { return max(n, -n) }
