package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/spf13/cobra"
)

// nodesCLI is the CLI's view of nodes; `orch node` drains and activates.
var nodesCLI = cliKind{
	name:    "nodes",
	aliases: []string{"node"},
	get:     getNodes, describe: describeNode, del: deleteNode,
}

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
	cmd := &cobra.Command{Use: "node", Short: "Drain, activate or remove nodes"}
	var force bool
	drain := &cobra.Command{
		Use:   "drain NODE",
		Short: "Stop placing tasks on a node; service tasks move to other nodes, standalone tasks stay unless --force",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			n, stopped, err := c.DrainNode(cmd.Context(), args[0], force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", n.Name, n.Status)
			if len(stopped) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "stopped %d standalone tasks: %s\n", len(stopped), strings.Join(stopped, " "))
			}
			return nil
		},
	}
	drain.Flags().BoolVar(&force, "force", false, "also stop the standalone tasks running on the node")
	activate := &cobra.Command{
		Use:   "activate NODE",
		Short: "Let a node take tasks again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			n, err := c.SetNodeStatus(cmd.Context(), args[0], "activate")
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", n.Name, n.Status)
			return nil
		},
	}
	var rmForce bool
	rm := &cobra.Command{
		Use:   "rm NODE",
		Short: "Forget a node that is gone; its tasks are stopped as NodeLost and service tasks replaced (--force for a node still alive)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RemoveNode(cmd.Context(), args[0], rmForce); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s removed\n", args[0])
			return nil
		},
	}
	rm.Flags().BoolVar(&rmForce, "force", false, "remove the node even though its orchlet still heartbeats (it registers again unless stopped)")
	cmd.AddCommand(drain, activate, rm)
	return cmd
}
