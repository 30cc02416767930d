package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// servicesCLI is the CLI's view of services; `orch scale` and `orch rollback` act on them.
var servicesCLI = cliKind{
	name:    "services",
	aliases: []string{"service", "svc"},
	get:     getServices, describe: describeService, del: deleteService,
	commands: []func(*globals) *cobra.Command{scaleCmd, rollbackCmd},
}

func getServices(cmd *cobra.Command, c *client.Client, name, output string) error {
	var svcs []*model.Service
	if name != "" {
		svc, _, err := c.GetService(cmd.Context(), name)
		if err != nil {
			return err
		}
		svcs = []*model.Service{svc}
	} else {
		var err error
		if svcs, err = c.ListServices(cmd.Context()); err != nil {
			return err
		}
	}
	if output != "table" && output != "wide" {
		if name != "" {
			return printObject(cmd.OutOrStdout(), output, svcs[0])
		}
		return printObject(cmd.OutOrStdout(), output, svcs)
	}
	headers := []string{"SERVICE", "TASKDEFINITION", "DESIRED", "MIN", "MAX", "RUNNING", "HEALTHY", "PENDING", "ROLLOUT", "AGE", "LAST SCALING"}
	if output == "wide" {
		headers = append(headers, "STATUS", "DEPLOYMENTS", "MIN%", "MAX%", "LAST EVENT")
	}
	t := newTable(cmd.OutOrStdout(), headers...)
	for _, s := range svcs {
		ref, rollout := "-", "-"
		if p := s.Primary(); p != nil {
			ref, rollout = p.TaskDefinition, p.RolloutState
		}
		created := time.Time{}
		if s.CreatedAt != nil {
			created = *s.CreatedAt
		}
		lo, hi, last := "-", "-", "-"
		if sc := s.Scaling; sc != nil {
			lo, hi = strconv.Itoa(sc.MinCapacity), strconv.Itoa(sc.MaxCapacity)
			if n := len(sc.Activities); n > 0 {
				a := sc.Activities[n-1]
				last = fmt.Sprintf("%s ago: %s", age(a.StartTime), truncate(a.Description, 40))
			}
		}
		row := []string{s.ServiceName, ref, strconv.Itoa(s.Desired()), lo, hi, strconv.Itoa(s.RunningCount), strconv.Itoa(s.HealthyCount),
			strconv.Itoa(s.PendingCount), rollout, age(created), last}
		if output == "wide" {
			live := 0
			for _, d := range s.Deployments {
				if d.Status != model.DeploymentInactive {
					live++
				}
			}
			last := "-"
			if n := len(s.Events); n > 0 {
				last = truncate(s.Events[n-1].Message, 70)
			}
			row = append(row, s.Status, strconv.Itoa(live), strconv.Itoa(s.MinHealthyPercent()), strconv.Itoa(s.MaxPercent()), last)
		}
		t.row(row...)
	}
	return t.flush()
}

func describeService(cmd *cobra.Command, c *client.Client, name string) error {
	svc, tasks, err := c.GetService(cmd.Context(), name)
	if err != nil {
		return err
	}
	writeService(cmd.OutOrStdout(), svc, tasks)
	return nil
}

func writeService(w io.Writer, s *model.Service, tasks []*model.Task) {
	p := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-22s %s\n", k+":", v)
		}
	}
	p("Service", s.ServiceName)
	p("Arn", s.ServiceArn)
	p("Status", s.Status)
	p("TaskDefinition", s.TaskDefinition)
	p("Desired", strconv.Itoa(s.Desired()))
	p("Running", fmt.Sprintf("%d (healthy %d, pending %d)", s.RunningCount, s.HealthyCount, s.PendingCount))
	cb := s.CircuitBreaker()
	p("Deployment config", fmt.Sprintf("minimumHealthyPercent %d, maximumPercent %d, circuit breaker %v (rollback %v)",
		s.MinHealthyPercent(), s.MaxPercent(), cb.Enable, cb.Rollback))
	if g := s.GracePeriod(); g > 0 {
		p("Health grace period", g.String())
	}
	if len(s.PlacementStrategy) > 0 {
		var ps []string
		for _, st := range s.PlacementStrategy {
			ps = append(ps, strings.Trim(st.Type+"("+st.Field+")", "()"))
		}
		p("Placement strategy", strings.Join(ps, ", "))
	}
	for _, pc := range s.PlacementConstraints {
		p("Placement constraint", strings.TrimSpace(pc.Type+" "+pc.Expression))
	}
	if rb := s.RestartBackoff; rb != nil {
		p("Restart backoff", fmt.Sprintf("%d recent task failures, next start not before %s; last: %s", rb.Failures, rb.Until.Local().Format("15:04:05"), rb.Reason))
	}
	if s.CreatedAt != nil {
		p("Created", s.CreatedAt.Local().Format("2006-01-02 15:04:05Z07:00"))
	}
	fmt.Fprintln(w, "Deployments:")
	t := newTable(w, "  ID", "STATUS", "TASKDEFINITION", "DESIRED", "RUNNING", "HEALTHY", "PENDING", "FAILED", "ROLLOUT", "UPDATED", "REASON")
	for i := len(s.Deployments) - 1; i >= 0; i-- {
		d := s.Deployments[i]
		t.row("  "+d.ID, d.Status, d.TaskDefinition, strconv.Itoa(d.DesiredCount), strconv.Itoa(d.RunningCount), strconv.Itoa(d.HealthyCount),
			strconv.Itoa(d.PendingCount), strconv.Itoa(d.FailedTasks), d.RolloutState, age(d.UpdatedAt), orDash(truncate(d.RolloutStateReason, 90)))
	}
	t.flush()
	if len(tasks) > 0 {
		fmt.Fprintln(w, "Tasks:")
		tt := newTable(w, "  TASK", "TASKDEFINITION", "DESIRED", "LAST", "HEALTH", "NODE", "AGE", "INFO")
		shown := 0
		for _, task := range tasks {
			if task.IsStopped() && shown >= 20 {
				continue
			}
			shown++
			tt.row("  "+task.ShortID(), model.TaskRef(task), task.DesiredStatus, task.LastStatus, orDash(task.HealthStatus),
				orDash(task.NodeName), age(task.CreatedAt), truncate(info(task), 60))
		}
		tt.flush()
	}
	if sc := s.Scaling; sc != nil {
		fmt.Fprintf(w, "Auto scaling:          %d to %d tasks\n", sc.MinCapacity, sc.MaxCapacity)
		if len(sc.Activities) > 0 {
			fmt.Fprintln(w, "Scaling activities:")
			start := max(0, len(sc.Activities)-20)
			for _, a := range sc.Activities[start:] {
				fmt.Fprintf(w, "  %s  %s %s\n", a.StartTime.Local().Format("15:04:05.000"), a.Description, a.Cause)
			}
		}
	}
	if len(s.Events) > 0 {
		fmt.Fprintln(w, "Events:")
		start := max(0, len(s.Events)-20)
		for _, e := range s.Events[start:] {
			fmt.Fprintf(w, "  %s  %s\n", e.CreatedAt.Local().Format("15:04:05.000"), e.Message)
		}
	}
}

// deleteService scales the service to 0 and waits until the controller
// has stopped its tasks and removed it.
func deleteService(cmd *cobra.Command, c *client.Client, name string) error {
	if _, err := c.DeleteService(cmd.Context(), name); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "service/%s scaling to 0\n", name)
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
	defer cancel()
	last := ""
	for {
		svc, _, err := c.GetService(ctx, name)
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == 404 {
			fmt.Fprintf(out, "service/%s deleted\n", name)
			return nil
		}
		if err != nil {
			return err
		}
		if line := fmt.Sprintf("service/%s: %d tasks still running", name, svc.RunningCount+svc.PendingCount); line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service/%s: still DRAINING after 5m (%d tasks running); check orch describe service %s", name, svc.RunningCount, name)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func scaleCmd(g *globals) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "scale SERVICE COUNT",
		Short: "Set a service's desired count (--wait: until it is steady at that count)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return fmt.Errorf("COUNT %q: want a whole number of tasks, 0 or more", args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.ScaleService(cmd.Context(), args[0], n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service/%s scaled to %d\n", args[0], n)
			if !wait {
				return nil
			}
			return waitServices(cmd.Context(), c, []string{args[0]}, cmd.OutOrStdout(), timeout)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the service is steady at the new count")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

func rollbackCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback SERVICE",
		Short: "Return a service to its last completed deployment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			svc, err := c.RollbackService(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			p := svc.Primary()
			fmt.Fprintf(cmd.OutOrStdout(), "service/%s rolling back to %s (deployment %s)\n", svc.ServiceName, p.TaskDefinition, p.ID)
			return nil
		},
	}
}

// waitServices follows services after an apply until each is steady on the
// deployment the apply left as primary, printing a line whenever a
// service's progress changes. It fails, with the reason, when a deployment
// fails or is rolled back.
func waitServices(ctx context.Context, c *client.Client, names []string, out io.Writer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	targets := map[string]string{} // service -> deployment id
	last := map[string]string{}
	pending := append([]string(nil), names...)
	var failures []string
	for len(pending) > 0 {
		var still []string
		for i, name := range pending {
			svc, tasks, err := c.GetService(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					// Timed out or interrupted mid-request: this service
					// and the ones not asked yet are still pending (not
					// steady), which the select below reports.
					still = append(still, pending[i:]...)
					break
				}
				return fmt.Errorf("service/%s: %w", name, err)
			}
			if _, ok := targets[name]; !ok && svc.Primary() != nil {
				targets[name] = svc.Primary().ID
			}
			line, done, failure := serviceProgress(svc, targets[name])
			if why := placementBlocker(tasks); why != "" && !done && failure == "" {
				line += "; waiting for placement: " + why
			}
			if line != last[name] {
				fmt.Fprintln(out, line)
				last[name] = line
			}
			switch {
			case failure != "":
				failures = append(failures, failure)
			case !done:
				still = append(still, name)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			// Ctrl-C cancels the parent context: say so rather than
			// blaming a timeout that did not run out.
			why := fmt.Sprintf("not steady after %s", timeout)
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				why = "interrupted before it was steady"
			}
			for _, name := range pending {
				failures = append(failures, fmt.Sprintf("service/%s: %s (last: %s)", name, why, strings.TrimPrefix(last[name], "service/"+name+": ")))
			}
			pending = nil
		case <-time.After(250 * time.Millisecond):
		}
	}
	if len(failures) > 0 {
		return exitError{code: 1, err: errors.New(strings.Join(failures, "\n"))}
	}
	return nil
}

// placementBlocker is why the service's pending tasks are not placed (the
// scheduler's explanation of the first one), or "" when none is stuck: a
// user waiting for a scale should see "1 has port tcp/18080 in use" in the
// progress line, not only in describe.
func placementBlocker(tasks []*model.Task) string {
	for _, t := range tasks {
		if t.LastStatus == model.StatusPending && t.NodeName == "" && t.PlacementMessage != "" {
			return t.PlacementMessage
		}
	}
	return ""
}

// serviceProgress renders one progress line and says whether the service
// is steady on deployment target, or why it failed.
func serviceProgress(svc *model.Service, target string) (line string, done bool, failure string) {
	var d *model.Deployment
	for i := range svc.Deployments {
		if svc.Deployments[i].ID == target {
			d = &svc.Deployments[i]
		}
	}
	p := svc.Primary()
	state, ref := "-", "-"
	if d != nil {
		state, ref = d.RolloutState, d.TaskDefinition
	}
	line = fmt.Sprintf("service/%s: desired %d, running %d, healthy %d, pending %d; deployment %s (%s) %s",
		svc.ServiceName, svc.Desired(), svc.RunningCount, svc.HealthyCount, svc.PendingCount, target, ref, state)
	if rb := svc.RestartBackoff; rb != nil {
		line += fmt.Sprintf("; %d task failures, restarts delayed (last: %s)", rb.Failures, rb.Reason)
	}
	switch {
	case d == nil:
		return line, false, fmt.Sprintf("service/%s: deployment %s is gone (another apply replaced it)", svc.ServiceName, target)
	case d.RolloutState == model.RolloutFailed:
		f := fmt.Sprintf("service/%s: deployment %s (%s) FAILED: %s", svc.ServiceName, d.ID, d.TaskDefinition, orDash(d.RolloutStateReason))
		if p != nil && p.ID != d.ID {
			f += fmt.Sprintf("; rolled back to %s (deployment %s)", p.TaskDefinition, p.ID)
		}
		return line, false, f
	case p != nil && p.ID != d.ID:
		return line, false, fmt.Sprintf("service/%s: deployment %s (%s) was replaced by %s (%s)", svc.ServiceName, d.ID, d.TaskDefinition, p.ID, p.TaskDefinition)
	}
	steady := d.RolloutState == model.RolloutCompleted && svc.Steady && d.HealthyCount == svc.Desired() &&
		svc.RunningCount == svc.Desired() && svc.PendingCount == 0
	if steady {
		line = fmt.Sprintf("service/%s: steady: %d/%d tasks healthy on %s", svc.ServiceName, d.HealthyCount, svc.Desired(), d.TaskDefinition)
	}
	return line, steady, ""
}
