package main

import (
	"fmt"
	"strings"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// taskDefinitionsCLI is the CLI's view of task definitions.
var taskDefinitionsCLI = cliKind{
	name:    "taskdefinitions",
	aliases: []string{"taskdefinition", "td", "taskdef", "taskdefs"},
	get:     getTaskDefs, describe: describeTaskDef, del: deleteTaskDef,
}

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
