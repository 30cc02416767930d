package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/spf13/cobra"
)

// rolesCLI: task roles (kind: Role), which taskRoleArn names.
var rolesCLI = cliKind{
	name:    "roles",
	aliases: []string{"role"},
	get:     getRoles, describe: describeRole, del: deleteRole,
}

func rolePath(name string) string { return "/v1/roles/" + url.PathEscape(name) }

func getRoles(cmd *cobra.Command, c *client.Client, name, output string) error {
	var rs []wire.Role
	if name != "" {
		var r wire.Role
		if err := c.Do(cmd.Context(), "GET", rolePath(name), nil, &r); err != nil {
			return err
		}
		rs = []wire.Role{r}
	} else {
		var out struct {
			Roles []wire.Role `json:"roles"`
		}
		if err := c.Do(cmd.Context(), "GET", "/v1/roles", nil, &out); err != nil {
			return err
		}
		rs = out.Roles
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, rs)
	}
	t := newTable(cmd.OutOrStdout(), "ROLE", "STATEMENTS", "ARN")
	for _, r := range rs {
		n := 0
		if r.PolicyDocument != nil {
			n = len(r.PolicyDocument.Statement)
		}
		t.row(r.RoleName, strconv.Itoa(n), r.Arn)
	}
	return t.flush()
}

func describeRole(cmd *cobra.Command, c *client.Client, name string) error {
	var r wire.Role
	if err := c.Do(cmd.Context(), "GET", rolePath(name), nil, &r); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Role:         %s\nARN:          %s\n", r.RoleName, r.Arn)
	if r.Description != "" {
		fmt.Fprintf(w, "Description:  %s\n", r.Description)
	}
	doc, _ := json.MarshalIndent(r.PolicyDocument, "", "  ")
	fmt.Fprintf(w, "Policy:\n%s\n", doc)
	return nil
}

func deleteRole(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.Do(cmd.Context(), "DELETE", rolePath(name), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "role %s deleted\n", name)
	return nil
}
