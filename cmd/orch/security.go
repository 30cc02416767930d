package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// auditCmd prints the audit log: every write, who made it and how it
// ended, newest first.
func auditCmd(g *globals) *cobra.Command {
	var actor, output, after string
	var limit int
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log: every write to the cluster, who made it, when and how it ended (admin)",
		Example: "  orch audit --limit 20\n  orch audit --actor ci -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			page, err := c.ListAudit(cmd.Context(), actor, limit, after)
			if err != nil {
				return err
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, page)
			}
			t := newTable(cmd.OutOrStdout(), "TIME", "WHO", "ROLE", "WHAT", "OBJECT", "OUTCOME")
			for _, e := range page.Entries {
				who := e.Actor
				if e.TokenID != "" {
					who += " (" + e.TokenID[:min(8, len(e.TokenID))] + ")"
				}
				outcome := e.Outcome
				if e.Status >= 400 {
					outcome = fmt.Sprintf("%s %d: %s", e.Outcome, e.Status, truncate(e.Error, 80))
				}
				what := e.Method + " " + e.Path
				if e.Action != "" { // a write through an AWS protocol; the actor is the access key
					what = e.Action
					if e.Task != "" {
						who += " (task " + e.Task[:min(8, len(e.Task))] + ")"
					}
				}
				t.row(e.Time.Local().Format(time.DateTime), who, e.Role, what, orDash(truncate(e.Object, 60)), outcome)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if page.NextToken != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: orch audit --after %s\n", page.NextToken)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&actor, "actor", "", "only writes by this token name")
	cmd.Flags().IntVar(&limit, "limit", 50, "entries to show (1-1000)")
	cmd.Flags().StringVar(&after, "after", "", "continue after this entry id (printed at the end of a page)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	return cmd
}

// policyCmd reads and sets the cluster policy.
func policyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show or set the cluster policy: which host paths, root and host networking task definitions may use"}
	var output string
	get := &cobra.Command{
		Use:   "get",
		Short: "Show the cluster policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.GetPolicy(cmd.Context())
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), output, p)
		},
	}
	get.Flags().StringVarP(&output, "output", "o", "yaml", "yaml or json")

	var file string
	var allowed, denied []string
	var allowRoot, allowHostNet, reset bool
	set := &cobra.Command{
		Use:   "set",
		Short: "Set the cluster policy from a file, or change single rules with flags (admin)",
		Example: "  orch policy get > policy.yaml && $EDITOR policy.yaml && orch policy set -f policy.yaml\n" +
			"  orch policy set --allowed-host-paths /srv,/data   # host volumes only under /srv and /data\n" +
			"  orch policy set --allow-root=false                 # every container must name a non-root user\n" +
			"  orch policy set --reset                            # back to the default policy",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var p model.ClusterPolicy
			switch {
			case reset:
				p = model.DefaultClusterPolicy()
			case file != "":
				if p, err = readPolicy(file); err != nil {
					return err
				}
			default:
				if p, err = c.GetPolicy(cmd.Context()); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			if f.Changed("allowed-host-paths") {
				p.AllowedHostPaths = allowed
			}
			if f.Changed("denied-host-paths") {
				p.DeniedHostPaths = denied
			}
			if f.Changed("allow-root") {
				p.AllowRoot = allowRoot
			}
			if f.Changed("allow-host-network") {
				p.AllowHostNetwork = allowHostNet
			}
			p, err = c.SetPolicy(cmd.Context(), p)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), "yaml", p)
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "policy file (YAML or JSON, as orch policy get prints)")
	set.Flags().StringSliceVar(&allowed, "allowed-host-paths", nil, "the only host paths volumes may mount (comma separated; empty: any path not denied)")
	set.Flags().StringSliceVar(&denied, "denied-host-paths", nil, "host paths volumes may never mount (comma separated; replaces the list)")
	set.Flags().BoolVar(&allowRoot, "allow-root", true, "let containers run as root")
	set.Flags().BoolVar(&allowHostNet, "allow-host-network", false, "let task definitions use networkMode host")
	set.Flags().BoolVar(&reset, "reset", false, "start from the default policy")
	cmd.AddCommand(get, set)
	return cmd
}

// readPolicy reads a policy file strictly: an unknown field is an error
// naming it (a typo must not silently loosen or tighten nothing).
func readPolicy(path string) (model.ClusterPolicy, error) {
	var p model.ClusterPolicy
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	var generic any
	if err := yaml.Unmarshal(b, &generic); err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	j, err := json.Marshal(generic)
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%s: %s (fields: allowedHostPaths, deniedHostPaths, allowRoot, allowHostNetwork)", path, strings.TrimPrefix(err.Error(), "json: "))
	}
	return p, nil
}
