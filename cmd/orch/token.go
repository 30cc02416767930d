package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// tokenCmd mints tokens for people: `orch token create --role viewer`
// gives a read-only token for the dashboard and `orch get`.
func tokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Mint tokens for people (admin or read-only viewer)"}
	var role, name string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Mint a token; prints it once (only its hash is stored)",
		Example: "  orch token create --role viewer --name alice   # may look at the dashboard and orch get, may not change anything",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.NewToken(cmd.Context(), role, name)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "viewer (read only) or admin")
	create.Flags().StringVar(&name, "name", "", "who the token is for (shown in the dashboard)")
	cmd.AddCommand(create)
	return cmd
}
