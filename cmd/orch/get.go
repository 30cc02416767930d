package main

import (
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/spf13/cobra"
	"strings"
)

// kindVerb runs fn with the handler of the kind named by args[0] and a client.
func kindVerb(g *globals, fn func(cmd *cobra.Command, k cliKind, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		kind, err := resolveKind(args[0])
		if err != nil {
			return err
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		return fn(cmd, kind, c, args[1:])
	}
}

func getCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List resources: taskdefinitions, tasks, nodes, ...",
		Long:  "List resources. KIND is one of: " + kindNames() + ".",
		Args:  cobra.RangeArgs(1, 2),
		RunE: kindVerb(g, func(cmd *cobra.Command, k cliKind, c *client.Client, rest []string) error {
			name := ""
			if len(rest) == 1 {
				name = rest[0]
			}
			return k.get(cmd, c, name, output)
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
		RunE: kindVerb(g, func(cmd *cobra.Command, k cliKind, c *client.Client, rest []string) error {
			return k.describe(cmd, c, rest[0])
		}),
	}
}

func deleteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete a resource (task definitions are deregistered: INACTIVE)",
		Args:  cobra.ExactArgs(2),
		RunE: kindVerb(g, func(cmd *cobra.Command, k cliKind, c *client.Client, rest []string) error {
			return k.del(cmd, c, rest[0])
		}),
	}
	cmd.Flags().Bool("force", false, "tasks: remove the record even if the task is not stopped or its record is damaged (its agent stops the containers)")
	return cmd
}

// kindNames lists the kinds get, describe and delete take, so their help
// names every one (the Short line has room for three).
func kindNames() string {
	names := make([]string, 0, len(cliKinds))
	for _, k := range cliKinds {
		names = append(names, k.name)
	}
	return strings.Join(names, ", ")
}
