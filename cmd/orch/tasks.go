package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// tasksCLI is the CLI's view of tasks.
var tasksCLI = cliKind{
	name:    "tasks",
	aliases: []string{"task"},
	get:     getTasks, describe: describeTask, del: deleteTask,
}

func getTasks(cmd *cobra.Command, c *client.Client, name, output string) error {
	var tasks []*model.Task
	if name != "" {
		t, err := c.GetTask(cmd.Context(), name)
		if err != nil {
			return err
		}
		tasks = []*model.Task{t}
	} else {
		var err error
		if tasks, err = c.ListTasks(cmd.Context(), url.Values{}); err != nil {
			return err
		}
	}
	if output != "table" && output != "wide" {
		if name != "" {
			return printObject(cmd.OutOrStdout(), output, tasks[0])
		}
		return printObject(cmd.OutOrStdout(), output, tasks)
	}
	wide := output == "wide"
	headers := []string{"TASK", "TASKDEFINITION", "DESIRED", "LAST", "NODE", "AGE", "INFO"}
	if wide {
		headers = []string{"TASK", "TASKDEFINITION", "GROUP", "DESIRED", "LAST", "HEALTH", "NODE", "PORTS", "STOPCODE", "AGE", "INFO"}
	}
	t := newTable(cmd.OutOrStdout(), headers...)
	for _, task := range tasks {
		id := task.ShortID()
		if wide {
			id = task.TaskID
		}
		ref := fmt.Sprintf("%s:%d", task.Family, task.Revision)
		if wide {
			t.row(id, ref, task.Group, task.DesiredStatus, task.LastStatus, orDash(task.HealthStatus), orDash(task.NodeName), orDash(ports(task)), orDash(task.StopCode), age(task.CreatedAt), info(task))
		} else {
			t.row(id, ref, task.DesiredStatus, task.LastStatus, orDash(task.NodeName), age(task.CreatedAt), truncate(info(task), 80))
		}
	}
	return t.flush()
}

// info is the one-line explanation of a task's state.
func info(t *model.Task) string {
	switch {
	case t.IsStopped():
		s := t.StoppedReason
		for _, c := range t.Containers {
			if c.Essential && c.ExitCode != nil {
				s = fmt.Sprintf("%s (exit %d)", s, *c.ExitCode)
				break
			}
		}
		return s
	case t.NodeName == "":
		return t.PlacementMessage
	}
	return ports(t)
}

func ports(t *model.Task) string {
	var ps []string
	for _, c := range t.Containers {
		for _, b := range c.NetworkBindings {
			ps = append(ps, fmt.Sprintf("%d->%d/%s", b.HostPort, b.ContainerPort, orDash(b.Protocol)))
		}
	}
	return strings.Join(ps, ",")
}

func describeTask(cmd *cobra.Command, c *client.Client, name string) error {
	t, err := c.GetTask(cmd.Context(), name)
	if err != nil {
		return err
	}
	writeTask(cmd.OutOrStdout(), t)
	return nil
}

func writeTask(w io.Writer, t *model.Task) {
	p := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-18s %s\n", k+":", printable(v))
		}
	}
	p("Task", t.TaskID)
	p("Arn", t.TaskArn)
	p("TaskDefinition", fmt.Sprintf("%s:%d", t.Family, t.Revision))
	p("Group", t.Group)
	p("StartedBy", t.StartedBy)
	p("Desired status", t.DesiredStatus)
	p("Last status", t.LastStatus)
	p("Health", t.HealthStatus)
	p("Stop code", t.StopCode)
	p("Stopped reason", t.StoppedReason)
	p("Node", orDash(t.NodeName))
	if t.NodeName == "" && t.PlacementMessage != "" {
		p("Placement", t.PlacementMessage)
	}
	p("Requires", fmt.Sprintf("%d cpu units, %d MiB", t.Requirements.CPU, t.Requirements.MemoryMiB))
	p("Created", t.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
	pt := func(k string, v *time.Time) {
		if v != nil {
			p(k, v.Format("2006-01-02 15:04:05Z07:00"))
		}
	}
	pt("Started", t.StartedAt)
	pt("Stopping", t.StoppingAt)
	pt("Stopped", t.StoppedAt)
	if t.Usage != nil {
		p("Usage", fmt.Sprintf("cpu %.1f%%, memory %.1f MiB (at %s)", t.Usage.CPUPercent, float64(t.Usage.MemoryBytes)/(1<<20), t.Usage.At.Format("15:04:05")))
	}
	if len(t.Containers) > 0 {
		fmt.Fprintln(w, "Containers:")
		tb := newTable(w, "  NAME", "STATUS", "EXIT", "HEALTH", "ESSENTIAL", "PORTS", "REASON")
		for _, c := range t.Containers {
			exit := "-"
			if c.ExitCode != nil {
				exit = fmt.Sprint(*c.ExitCode)
			}
			var ps []string
			for _, b := range c.NetworkBindings {
				ps = append(ps, fmt.Sprintf("%d->%d/%s", b.HostPort, b.ContainerPort, orDash(b.Protocol)))
			}
			tb.row("  "+c.Name, c.LastStatus, exit, orDash(c.HealthStatus), fmt.Sprint(c.Essential), orDash(strings.Join(ps, ",")), orDash(c.Reason))
		}
		tb.flush()
	}
	if len(t.Events) > 0 {
		fmt.Fprintln(w, "Events:")
		for _, e := range t.Events {
			fmt.Fprintf(w, "  %s  %s\n", e.At.Format("15:04:05.000"), printable(e.Message))
		}
	}
}

func deleteTask(cmd *cobra.Command, c *client.Client, name string) error {
	del := c.DeleteTask
	if force, _ := cmd.Flags().GetBool("force"); force {
		del = c.ForceDeleteTask
	}
	if err := del(cmd.Context(), name); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "task/%s deleted\n", name)
	return nil
}
