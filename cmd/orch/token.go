package main

import (
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/spf13/cobra"
)

// tokenCmd manages people's tokens: `orch token create --role deployer
// --ttl 24h --name ci`, `orch token ls`, `orch token revoke ID|NAME`.
func tokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke tokens (admin, deployer or read-only viewer)"}
	var role, name, ttl string
	create := &cobra.Command{
		Use:   "create",
		Short: "Mint a token; prints it once (only its hash is stored)",
		Example: "  orch token create --role deployer --ttl 24h --name ci   # may deploy (apply, run, stop, scale), not manage tokens, nodes or the policy\n" +
			"  orch token create --role viewer --name alice            # may look at the dashboard and orch get, may not change anything",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.CreateToken(cmd.Context(), wire.TokenRequest{Role: role, Name: name, TTL: ttl})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			exp := "never expires"
			if out.ExpiresAt != nil {
				exp = "expires " + out.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s, role %s, %s): shown this once; revoke with orch token revoke %s\n", out.ID, out.Name, out.Role, exp, out.ID)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "viewer (read only), deployer (deploy workloads) or admin (everything)")
	create.Flags().StringVar(&name, "name", "", "who or what the token is for (shown in orch token ls and the audit log)")
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime such as 24h or 90d (default: never expires)")

	var output string
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List tokens (ids, names, roles, expiry; never the tokens themselves)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			toks, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, map[string]any{"tokens": toks})
			}
			t := newTable(cmd.OutOrStdout(), "ID", "NAME", "ROLE", "CREATED", "EXPIRES", "CREATED BY")
			now := time.Now()
			for _, tk := range toks {
				created, expires := "-", "never"
				if tk.CreatedAt != nil {
					created = age(*tk.CreatedAt)
				}
				if tk.ExpiresAt != nil {
					if tk.ExpiresAt.After(now) {
						expires = "in " + tk.ExpiresAt.Sub(now).Round(time.Minute).String()
					} else {
						expires = "expired"
					}
				}
				role := string(tk.Role)
				if role == "agent" {
					role = "join"
				}
				t.row(tk.ID, tk.Name, role, created, expires, orDash(tk.CreatedBy))
			}
			return t.flush()
		},
	}
	ls.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")

	revoke := &cobra.Command{
		Use:     "revoke ID|NAME",
		Aliases: []string{"rm"},
		Short:   "Revoke a token by id (or a unique id prefix) or name; it stops working within 5 s on every server",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			m, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s (%s, role %s)\n", m.ID, m.Name, m.Role)
			return nil
		},
	}
	cmd.AddCommand(create, ls, revoke)
	return cmd
}
