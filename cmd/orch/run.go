package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

func runCmd(g *globals) *cobra.Command {
	var in wire.RunTaskInput
	var wait bool
	var until string
	var timeout time.Duration
	var output string
	cmd := &cobra.Command{
		Use:   "run FAMILY[:REVISION]",
		Short: "Start tasks from a task definition",
		Long: "orch run starts COUNT tasks of a task definition (the latest ACTIVE revision when none is given).\n" +
			"With --wait it waits until every task is ready (or already STOPPED): RUNNING, and HEALTHY when its\n" +
			"essential containers have health checks, like docker compose up --wait (--until running: RUNNING\n" +
			"is enough); with --wait --until stopped it waits until every task has STOPPED, as for a one-shot\n" +
			"job. It fails when a task fails to start, is unhealthy, or an essential container exits non-zero.\n" +
			"Progress goes to stderr; with -o json|yaml stdout carries only the tasks.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			in.TaskDefinition = args[0]
			if in.ClientToken == "" {
				// One token per invocation: the client's own retries
				// (a timeout, a failover) cannot start the tasks twice.
				in.ClientToken = client.NewClientToken()
			}
			tasks, err := c.RunTask(cmd.Context(), in)
			if err != nil {
				return err
			}
			// With -o the final tasks are the output; everything else is
			// progress, on stderr, so `orch run --wait -o json | jq` works.
			out, progress := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if output != "" {
				out = progress
			}
			for _, t := range tasks {
				fmt.Fprintf(out, "task/%s created (%s:%d)\n", t.TaskID, t.Family, t.Revision)
			}
			if !wait {
				if output != "" {
					return printObject(cmd.OutOrStdout(), output, tasks)
				}
				return nil
			}
			target, ok := waitTargets[until]
			if !ok {
				return fmt.Errorf("--until %q: use healthy, running or stopped", until)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			final, err := waitTasks(ctx, c, tasks, progress, target)
			if err != nil {
				return err
			}
			if output != "" {
				if err := printObject(cmd.OutOrStdout(), output, final); err != nil {
					return err
				}
			}
			return tasksOutcome(final)
		},
	}
	cmd.Flags().IntVar(&in.Count, "count", 1, "number of tasks to start")
	cmd.Flags().StringVar(&in.Group, "group", "", "task group (default family:FAMILY)")
	cmd.Flags().StringVar(&in.StartedBy, "started-by", "", "free-text tag recorded on the tasks")
	cmd.Flags().StringVar(&in.ClientToken, "client-token", "", "idempotency token (ECS clientToken): running again with the same token and arguments within an hour returns the same tasks (default: a fresh one per invocation)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the tasks are ready (RUNNING, and HEALTHY where checked) or STOPPED, and report the outcome")
	cmd.Flags().StringVar(&until, "until", "healthy", "with --wait: healthy (RUNNING and HEALTHY where checked), running, or stopped to wait for tasks to finish")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the tasks (with --wait, their final states) as json or yaml; progress goes to stderr")
	return cmd
}

// waitTarget is what --wait waits for.
type waitTarget int

const (
	untilHealthy waitTarget = iota // RUNNING, and a health verdict where checked
	untilRunning
	untilStopped
)

var waitTargets = map[string]waitTarget{"healthy": untilHealthy, "running": untilRunning, "stopped": untilStopped}

// healthChecked reports whether t's essential containers have health
// checks: the agent reports a health status (UNKNOWN at first) only for
// containers with one.
func healthChecked(t *model.Task) bool {
	for _, c := range t.Containers {
		if c.Essential && c.HealthStatus != "" {
			return true
		}
	}
	return false
}

// settled reports whether t needs no more waiting for target.
func settled(t *model.Task, target waitTarget) bool {
	switch {
	case t.IsStopped():
		return true
	case target == untilStopped || t.LastStatus != model.StatusRunning:
		return false
	case target == untilHealthy && healthChecked(t):
		return t.HealthStatus == model.HealthHealthy || t.HealthStatus == model.HealthUnhealthy
	}
	return true
}

// waitTasks follows the tasks on the server's watch stream until every
// one has settled for target, printing each change to progress, and
// returns their final states in the given order.
func waitTasks(ctx context.Context, c *client.Client, tasks []*model.Task, progress io.Writer, target waitTarget) ([]*model.Task, error) {
	ids := make([]string, len(tasks))
	latest := make(map[string]*model.Task, len(tasks))
	for i, t := range tasks {
		ids[i] = t.TaskID
		latest[t.TaskID] = t
	}
	last := map[string]string{}
	err := c.WatchTasks(ctx, ids, func(cur *model.Task) (bool, error) {
		latest[cur.TaskID] = cur
		line := cur.LastStatus
		switch {
		case cur.NodeName == "" && cur.PlacementMessage != "":
			line += " (" + cur.PlacementMessage + ")"
		case cur.LastStatus == model.StatusRunning && healthChecked(cur):
			line += ", health " + cur.HealthStatus
		}
		if last[cur.TaskID] != line {
			fmt.Fprintf(progress, "task/%s %s\n", cur.ShortID(), line)
			last[cur.TaskID] = line
		}
		for _, t := range latest {
			if !settled(t, target) {
				return false, nil
			}
		}
		return true, nil
	})
	final := make([]*model.Task, len(ids))
	for i, id := range ids {
		final[i] = latest[id]
	}
	if err != nil {
		if ctx.Err() != nil {
			return final, gaveUp(ctx.Err(), final, target)
		}
		return final, err
	}
	return final, nil
}

// tasksOutcome fails when a task failed to start, is unhealthy, or exited
// non-zero.
func tasksOutcome(tasks []*model.Task) error {
	for _, t := range tasks {
		if !t.IsStopped() {
			if t.HealthStatus == model.HealthUnhealthy {
				return exitError{4, fmt.Errorf("task %s is RUNNING but UNHEALTHY: its health check fails (orch describe task %s; orch logs %s)", t.ShortID(), t.ShortID(), t.ShortID())}
			}
			continue
		}
		if t.StopCode == model.StopTaskFailedToStart {
			return exitError{2, fmt.Errorf("task %s failed to start: %s", t.ShortID(), t.StoppedReason)}
		}
		for _, ct := range t.Containers {
			if ct.Essential && ct.ExitCode != nil && *ct.ExitCode != 0 {
				return exitError{3, fmt.Errorf("task %s: container %s exited with code %d", t.ShortID(), ct.Name, *ct.ExitCode)}
			}
		}
	}
	return nil
}

func stopCmd(g *globals) *cobra.Command {
	var reason string
	var wait bool
	cmd := &cobra.Command{
		Use:   "stop TASK...",
		Short: "Stop tasks (by id or unique id prefix)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var tasks []*model.Task
			for _, id := range args {
				t, err := c.StopTask(cmd.Context(), id, reason)
				if err != nil {
					return err
				}
				tasks = append(tasks, t)
				fmt.Fprintf(cmd.OutOrStdout(), "task/%s stopping\n", t.TaskID)
			}
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			final, err := waitTasks(ctx, c, tasks, io.Discard, untilStopped)
			if err != nil {
				return fmt.Errorf("waiting for tasks to stop: %w", err)
			}
			for _, t := range final {
				fmt.Fprintf(cmd.OutOrStdout(), "task/%s STOPPED: %s\n", t.ShortID(), t.StoppedReason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded as stoppedReason)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the tasks are STOPPED")
	return cmd
}

func logsCmd(g *globals) *cobra.Command {
	var container, since string
	var follow bool
	var tail int
	cmd := &cobra.Command{
		Use:   "logs TASK | logs function NAME",
		Short: "Print a task's container output, streamed from its agent, or a function's recent log",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if len(args) == 2 {
				if args[0] != "function" && args[0] != "functions" && args[0] != "fn" {
					return fmt.Errorf("orch logs %s %s: use orch logs TASK, or orch logs function NAME", args[0], args[1])
				}
				out, err := c.FunctionLogs(cmd.Context(), args[1])
				if err != nil {
					return err
				}
				_, err = io.WriteString(cmd.OutOrStdout(), out)
				return err
			}
			q := url.Values{}
			if container != "" {
				q.Set("container", container)
			}
			if follow {
				q.Set("follow", "1")
			}
			if since != "" {
				q.Set("since", since)
			}
			if tail >= 0 {
				q.Set("tail", strconv.Itoa(tail))
			}
			body, err := c.Logs(cmd.Context(), args[0], q)
			if err != nil {
				return err
			}
			defer body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), body)
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C while following
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&container, "container", "c", "", "container name (default: the task's first essential container)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming new output")
	cmd.Flags().StringVar(&since, "since", "", "only output newer than a duration (10m) or RFC 3339 time")
	cmd.Flags().IntVar(&tail, "tail", -1, "only the last N lines")
	return cmd
}

// gaveUp says which tasks a wait left unsettled, in what state, and where
// to look: "gave up waiting: context deadline exceeded" left a new user
// guessing (make demo's till waited on credentials it never got).
func gaveUp(cause error, final []*model.Task, target waitTarget) error {
	why := "timed out (--timeout)"
	if errors.Is(cause, context.Canceled) {
		why = "interrupted"
	}
	var waiting []string
	first := ""
	for _, t := range final {
		if t == nil || settled(t, target) {
			continue
		}
		state := t.LastStatus
		if t.NodeName == "" && t.PlacementMessage != "" {
			state += " (" + t.PlacementMessage + ")"
		} else if t.LastStatus == model.StatusRunning && healthChecked(t) {
			state += ", health " + t.HealthStatus
		}
		waiting = append(waiting, fmt.Sprintf("task/%s %s", t.ShortID(), state))
		if first == "" {
			first = t.ShortID()
		}
	}
	if first == "" {
		return fmt.Errorf("gave up waiting: %s", why)
	}
	return fmt.Errorf("gave up waiting, %s: still %s; see `orch logs %s` and `orch describe task %s`",
		why, strings.Join(waiting, ", "), first, first)
}
