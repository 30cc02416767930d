package main

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// kinds maps the names users type to canonical kinds.
var kindAliases = map[string]string{
	"taskdefinition": "taskdefinitions", "taskdefinitions": "taskdefinitions", "td": "taskdefinitions", "taskdef": "taskdefinitions", "taskdefs": "taskdefinitions",
	"task": "tasks", "tasks": "tasks",
	"node": "nodes", "nodes": "nodes",
}

// getters lets other files add kinds to get/describe/delete.
var getters = map[string]kindHandler{}

type kindHandler struct {
	get      func(cmd *cobra.Command, c *client.Client, name, output string) error
	describe func(cmd *cobra.Command, c *client.Client, name string) error
	del      func(cmd *cobra.Command, c *client.Client, name string) error
}

func resolveKind(k string) (string, error) {
	if v, ok := kindAliases[strings.ToLower(k)]; ok {
		return v, nil
	}
	var known []string
	for _, v := range kindAliases {
		known = append(known, v)
	}
	sort.Strings(known)
	return "", fmt.Errorf("unknown kind %q: use one of %s", k, strings.Join(dedupe(known), ", "))
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func init() {
	getters["taskdefinitions"] = kindHandler{get: getTaskDefs, describe: describeTaskDef, del: deleteTaskDef}
	getters["tasks"] = kindHandler{get: getTasks, describe: describeTask, del: deleteTask}
	getters["nodes"] = kindHandler{get: getNodes, describe: describeNode, del: deleteNode}
}

// kindVerb runs fn with the handler of the kind named by args[0] and a client.
func kindVerb(g *globals, fn func(cmd *cobra.Command, h kindHandler, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		kind, err := resolveKind(args[0])
		if err != nil {
			return err
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		return fn(cmd, getters[kind], c, args[1:])
	}
}

func getCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List resources: taskdefinitions, tasks, nodes, ...",
		Args:  cobra.RangeArgs(1, 2),
		RunE: kindVerb(g, func(cmd *cobra.Command, h kindHandler, c *client.Client, rest []string) error {
			name := ""
			if len(rest) == 1 {
				name = rest[0]
			}
			return h.get(cmd, c, name, output)
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, wide, json or yaml")
	return cmd
}

func describeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show one resource in detail, with its events",
		Args:  cobra.ExactArgs(2),
		RunE: kindVerb(g, func(cmd *cobra.Command, h kindHandler, c *client.Client, rest []string) error {
			return h.describe(cmd, c, rest[0])
		}),
	}
}

func deleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete a resource (task definitions are deregistered: INACTIVE)",
		Args:  cobra.ExactArgs(2),
		RunE: kindVerb(g, func(cmd *cobra.Command, h kindHandler, c *client.Client, rest []string) error {
			return h.del(cmd, c, rest[0])
		}),
	}
}

// ---- task definitions

func getTaskDefs(cmd *cobra.Command, c *client.Client, name, output string) error {
	var tds []*model.TaskDefinition
	if strings.Contains(name, ":") {
		td, err := c.GetTaskDefinition(cmd.Context(), name)
		if err != nil {
			return err
		}
		tds = []*model.TaskDefinition{td}
	} else {
		var err error
		if tds, err = c.ListTaskDefinitions(cmd.Context(), name); err != nil {
			return err
		}
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, tds)
	}
	t := newTable(cmd.OutOrStdout(), "TASKDEFINITION", "STATUS", "CONTAINERS", "CPU", "MEMORY", "AGE")
	for _, td := range tds {
		req := td.Requirements()
		var names []string
		for _, cd := range td.ContainerDefinitions {
			names = append(names, cd.Name)
		}
		var reg = td.RegisteredAt
		ageS := "-"
		if reg != nil {
			ageS = age(*reg)
		}
		t.row(td.Ref(), td.Status, strings.Join(names, ","), fmt.Sprint(req.CPU), fmt.Sprintf("%dMiB", req.MemoryMiB), ageS)
	}
	return t.flush()
}

func describeTaskDef(cmd *cobra.Command, c *client.Client, name string) error {
	td, err := c.GetTaskDefinition(cmd.Context(), name)
	if err != nil {
		return err
	}
	return printObject(cmd.OutOrStdout(), "yaml", td)
}

func deleteTaskDef(cmd *cobra.Command, c *client.Client, name string) error {
	tds, err := c.DeregisterTaskDefinition(cmd.Context(), name)
	if err != nil {
		return err
	}
	for _, td := range tds {
		fmt.Fprintf(cmd.OutOrStdout(), "taskdefinition/%s deregistered (INACTIVE)\n", td.Ref())
	}
	return nil
}

// ---- tasks

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
			fmt.Fprintf(w, "%-18s %s\n", k+":", v)
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
			fmt.Fprintf(w, "  %s  %s\n", e.At.Format("15:04:05.000"), e.Message)
		}
	}
}

func deleteTask(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.DeleteTask(cmd.Context(), name); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "task/%s deleted\n", name)
	return nil
}

// ---- nodes

func getNodes(cmd *cobra.Command, c *client.Client, name, output string) error {
	nodes, err := c.ListNodes(cmd.Context())
	if err != nil {
		return err
	}
	if name != "" {
		var keep []wire.NodeView
		for _, n := range nodes {
			if n.Name == name {
				keep = append(keep, n)
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("node %s: not found", name)
		}
		nodes = keep
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, nodes)
	}
	headers := []string{"NODE", "STATUS", "ALIVE", "CPU(used/total)", "MEMORY(used/total)", "TASKS", "AGE"}
	if output == "wide" {
		headers = append(headers, "ADDRESS", "RUNTIME", "ATTRIBUTES")
	}
	t := newTable(cmd.OutOrStdout(), headers...)
	for _, n := range nodes {
		row := []string{n.Name, n.Status, fmt.Sprint(n.Alive), fmt.Sprintf("%d/%d", n.Used.CPU, n.Capacity.CPU),
			fmt.Sprintf("%d/%dMiB", n.Used.MemoryMiB, n.Capacity.MemoryMiB), fmt.Sprint(n.RunningTasks + n.PendingTasks), age(n.RegisteredAt)}
		if output == "wide" {
			var attrs []string
			for k, v := range n.Attributes {
				attrs = append(attrs, k+"="+v)
			}
			sort.Strings(attrs)
			row = append(row, orDash(n.Address), orDash(n.Runtime), strings.Join(attrs, ","))
		}
		t.row(row...)
	}
	return t.flush()
}

func describeNode(cmd *cobra.Command, c *client.Client, name string) error {
	n, tasks, err := c.GetNode(cmd.Context(), name)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Node:        %s\nStatus:      %s\nAlive:       %v\nAddress:     %s\nRuntime:     %s\nAgent:       %s\n",
		n.Name, n.Status, n.Alive, orDash(n.Address), orDash(n.Runtime), orDash(n.AgentVersion))
	fmt.Fprintf(w, "Capacity:    %d cpu units, %d MiB\nUsed:        %d cpu units, %d MiB\n", n.Capacity.CPU, n.Capacity.MemoryMiB, n.Used.CPU, n.Used.MemoryMiB)
	var attrs []string
	for k, v := range n.Attributes {
		attrs = append(attrs, k+"="+v)
	}
	sort.Strings(attrs)
	fmt.Fprintf(w, "Attributes:  %s\n", strings.Join(attrs, ", "))
	fmt.Fprintln(w, "Tasks:")
	t := newTable(w, "  TASK", "TASKDEFINITION", "DESIRED", "LAST", "AGE")
	for _, task := range tasks {
		t.row("  "+task.ShortID(), fmt.Sprintf("%s:%d", task.Family, task.Revision), task.DesiredStatus, task.LastStatus, age(task.CreatedAt))
	}
	return t.flush()
}

func deleteNode(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.DeleteNode(cmd.Context(), name); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "node/%s deleted\n", name)
	return nil
}

func nodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Drain or activate nodes"}
	for _, verb := range []string{"drain", "activate"} {
		cmd.AddCommand(&cobra.Command{
			Use:   verb + " NODE",
			Short: map[string]string{"drain": "Stop placing tasks on a node (running tasks stay)", "activate": "Let a node take tasks again"}[verb],
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := g.client()
				if err != nil {
					return err
				}
				n, err := c.SetNodeStatus(cmd.Context(), args[0], verb)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", n.Name, n.Status)
				return nil
			},
		})
	}
	return cmd
}
