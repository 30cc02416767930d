package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
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
			"With --wait it waits until every task is RUNNING (or already STOPPED); with --wait --until stopped\n" +
			"it waits until every task has STOPPED, as for a one-shot job. It fails when a task fails to\n" +
			"start or an essential container exits non-zero.",
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
			out := cmd.OutOrStdout()
			for _, t := range tasks {
				fmt.Fprintf(out, "task/%s created (%s:%d)\n", t.TaskID, t.Family, t.Revision)
			}
			if !wait {
				return nil
			}
			if until != "running" && until != "stopped" {
				return fmt.Errorf("--until %q: use running or stopped", until)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			final, err := waitTasks(ctx, c, tasks, out, until == "stopped")
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(out, output, final)
			}
			return tasksOutcome(final)
		},
	}
	cmd.Flags().IntVar(&in.Count, "count", 1, "number of tasks to start")
	cmd.Flags().StringVar(&in.Group, "group", "", "task group (default family:FAMILY)")
	cmd.Flags().StringVar(&in.StartedBy, "started-by", "", "free-text tag recorded on the tasks")
	cmd.Flags().StringVar(&in.ClientToken, "client-token", "", "idempotency token (ECS clientToken): running again with the same token and arguments within an hour returns the same tasks (default: a fresh one per invocation)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the tasks are RUNNING (or STOPPED) and report the outcome")
	cmd.Flags().StringVar(&until, "until", "running", "with --wait: running, or stopped to wait for tasks to finish")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	cmd.Flags().StringVarP(&output, "output", "o", "", "with --wait, print the final tasks as json or yaml")
	return cmd
}

// waitTasks polls until every task is RUNNING or STOPPED (only STOPPED with
// untilStopped), printing each change.
func waitTasks(ctx context.Context, c *client.Client, tasks []*model.Task, out io.Writer, untilStopped bool) ([]*model.Task, error) {
	last := map[string]string{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for i, t := range tasks {
			cur, err := c.GetTask(ctx, t.TaskID)
			if err != nil {
				return nil, err
			}
			tasks[i] = cur
			line := cur.LastStatus
			if cur.NodeName == "" && cur.PlacementMessage != "" {
				line += " (" + cur.PlacementMessage + ")"
			}
			if last[cur.TaskID] != line {
				fmt.Fprintf(out, "task/%s %s\n", cur.ShortID(), line)
				last[cur.TaskID] = line
			}
			if !cur.IsStopped() && (untilStopped || cur.LastStatus != model.StatusRunning) {
				done = false
			}
		}
		if done {
			return tasks, nil
		}
		select {
		case <-ctx.Done():
			return tasks, fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// tasksOutcome fails when a task failed to start or exited non-zero.
func tasksOutcome(tasks []*model.Task) error {
	for _, t := range tasks {
		if !t.IsStopped() {
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
			for {
				all := true
				for i, t := range tasks {
					cur, err := c.GetTask(ctx, t.TaskID)
					if err != nil {
						return err
					}
					tasks[i] = cur
					all = all && cur.IsStopped()
				}
				if all {
					for _, t := range tasks {
						fmt.Fprintf(cmd.OutOrStdout(), "task/%s STOPPED: %s\n", t.ShortID(), t.StoppedReason)
					}
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("gave up waiting for tasks to stop: %w", ctx.Err())
				case <-time.After(200 * time.Millisecond):
				}
			}
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
		Use:   "logs TASK",
		Short: "Print a task's container output, streamed from its agent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
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
