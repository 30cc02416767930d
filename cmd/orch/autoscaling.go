package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// scalableTargetsCLI shows services' scalable targets (NAME is the service).
var scalableTargetsCLI = cliKind{
	name:    "scalabletargets",
	aliases: []string{"scalabletarget", "targets"},
	get:     getScalableTargets, describe: describeScalableTarget, del: deleteScalableTarget,
}

// scalingPoliciesCLI shows scaling policies (NAME is SERVICE/POLICY or a service).
var scalingPoliciesCLI = cliKind{
	name:    "scalingpolicies",
	aliases: []string{"scalingpolicy", "policies"},
	get:     getScalingPolicies, describe: describeScalingPolicy, del: deleteScalingPolicy,
}

func getScalableTargets(cmd *cobra.Command, c *client.Client, name, output string) error {
	ts, err := c.ListScalableTargets(cmd.Context(), name)
	if err != nil {
		return err
	}
	if name != "" && len(ts) == 0 {
		return fmt.Errorf("service %s has no scalable target (register one with kind: ScalableTarget or autoScaling in its Service)", name)
	}
	if output != "table" && output != "wide" {
		if name != "" {
			return printObject(cmd.OutOrStdout(), output, ts[0])
		}
		return printObject(cmd.OutOrStdout(), output, ts)
	}
	t := newTable(cmd.OutOrStdout(), "SERVICE", "MIN", "MAX", "IDLE TO ZERO", "ACTIVITIES", "LAST SCALING")
	for _, tg := range ts {
		lo, hi := tg.Bounds()
		last := "-"
		if a := tg.LastActivity(); a != nil {
			last = fmt.Sprintf("%s ago: %s", age(a.StartTime), a.Description)
		}
		t.row(tg.Service(), strconv.Itoa(lo), strconv.Itoa(hi), tg.ScaleToZeroAfter().String(), strconv.Itoa(len(tg.Activities)), last)
	}
	return t.flush()
}

func describeScalableTarget(cmd *cobra.Command, c *client.Client, name string) error {
	ts, err := c.ListScalableTargets(cmd.Context(), name)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return fmt.Errorf("service %s has no scalable target", name)
	}
	tg, w := ts[0], cmd.OutOrStdout()
	lo, hi := tg.Bounds()
	fmt.Fprintf(w, "%-22s %s\n%-22s %s\n%-22s %d to %d tasks\n%-22s %s\n", "ResourceId:", tg.ResourceId, "Arn:", tg.ScalableTargetARN,
		"Capacity:", lo, hi, "Idle before zero:", tg.ScaleToZeroAfter())
	ps, err := c.ListScalingPolicies(cmd.Context(), name)
	if err != nil {
		return err
	}
	for _, p := range ps {
		fmt.Fprintf(w, "%-22s %s\n", "Policy:", policySummary(p))
	}
	if len(tg.Activities) > 0 {
		fmt.Fprintln(w, "Scaling activities:")
		for _, a := range tg.Activities {
			fmt.Fprintf(w, "  %s  %s %s\n", a.StartTime.Local().Format("15:04:05.000"), a.Description, a.Cause)
		}
	}
	return nil
}

func deleteScalableTarget(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.DeregisterScalableTarget(cmd.Context(), name); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "scalabletarget/%s deleted (the service keeps its desired count)\n", name)
	return nil
}

// policySummary is one line: name, type, metric and target.
func policySummary(p *model.ScalingPolicy) string {
	metric := "-"
	m := p.Metric()
	switch {
	case m.PredefinedMetricSpecification != nil:
		metric = m.PredefinedMetricSpecification.PredefinedMetricType
	case m.CustomizedMetricSpecification != nil:
		metric = "BacklogPerTask(" + m.CustomizedMetricSpecification.QueueName() + ")"
	}
	target := "-"
	if c := p.TargetTrackingScalingPolicyConfiguration; c != nil && c.TargetValue != nil {
		target = strconv.FormatFloat(*c.TargetValue, 'g', -1, 64)
	} else if c := p.StepScalingPolicyConfiguration; c != nil && c.Threshold != nil {
		target = fmt.Sprintf("threshold %g, %d steps", *c.Threshold, len(c.StepAdjustments))
	}
	return fmt.Sprintf("%s (%s) %s target %s", p.PolicyName, p.PolicyType, metric, target)
}

func splitPolicy(name string) (service, policy string) {
	service, policy, _ = strings.Cut(name, "/")
	return service, policy
}

func getScalingPolicies(cmd *cobra.Command, c *client.Client, name, output string) error {
	svc, pol := splitPolicy(name)
	ps, err := c.ListScalingPolicies(cmd.Context(), svc)
	if err != nil {
		return err
	}
	if pol != "" {
		var keep []*model.ScalingPolicy
		for _, p := range ps {
			if p.PolicyName == pol {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("service %s has no scaling policy %s", svc, pol)
		}
		ps = keep
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, ps)
	}
	t := newTable(cmd.OutOrStdout(), "SERVICE", "POLICY", "TYPE", "METRIC", "TARGET", "AGE")
	for _, p := range ps {
		created := time.Time{}
		if p.CreationTime != nil {
			created = *p.CreationTime
		}
		parts := strings.SplitN(policySummary(p), " ", 4)
		t.row(p.Service(), p.PolicyName, p.PolicyType, parts[2], strings.TrimPrefix(parts[3], "target "), age(created))
	}
	return t.flush()
}

func describeScalingPolicy(cmd *cobra.Command, c *client.Client, name string) error {
	return getScalingPolicies(cmd, c, name, "yaml")
}

func deleteScalingPolicy(cmd *cobra.Command, c *client.Client, name string) error {
	svc, pol := splitPolicy(name)
	if pol == "" {
		return fmt.Errorf("name the policy as SERVICE/POLICY, e.g. rush-barista/rush-barista-backlog")
	}
	if err := c.DeleteScalingPolicy(cmd.Context(), svc, pol); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "scalingpolicy/%s deleted\n", name)
	return nil
}
