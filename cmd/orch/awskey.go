package main

import (
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/clientconfig"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// awsKeyCmd manages the cluster's admin AWS access keys as IAM manages a
// user's: `orch aws-key create [--write-config]`, `ls`, `deactivate ID`,
// `activate ID`, `rm ID`. Rotating a leaked key: create, switch clients,
// deactivate the old one, rm it.
func awsKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "aws-key", Short: "Create, list, deactivate and remove the cluster's admin AWS access keys (orch aws-env's key)"}
	var writeConfig bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an admin AWS access key (at most 2 exist); prints its secret once",
		Example: "  orch aws-key create --write-config   # orch aws-env then prints the new key\n" +
			"  orch aws-key deactivate AKIA...OLD   # once every client uses the new key; rm it after",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			// Read the config before the key exists, so a config that
			// cannot be written is known before a secret is shown.
			var f *clientconfig.File
			if writeConfig {
				if f, err = clientconfig.Load(clientconfig.Path()); err != nil {
					return err
				}
			}
			k, err := c.CreateAWSKey(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", k.AccessKeyId, k.SecretAccessKey)
			if writeConfig {
				f.AWSAccessKeyID, f.AWSSecretAccessKey = k.AccessKeyId, k.SecretAccessKey
				if err := clientconfig.Save(clientconfig.Path(), f); err != nil {
					return fmt.Errorf("key %s was created, but writing it to %s failed: %w (keep the secret printed above)", k.AccessKeyId, clientconfig.Path(), err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "access key %s: written to %s, so orch aws-env prints it; the secret is shown this once\n", k.AccessKeyId, clientconfig.Path())
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "access key %s: the secret is shown this once (--write-config stores it for orch aws-env)\n", k.AccessKeyId)
			}
			return nil
		},
	}
	create.Flags().BoolVar(&writeConfig, "write-config", false, "store the new key in the client config ($ORCH_CONFIG), replacing the one orch aws-env prints")

	var output string
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the admin AWS access keys (ids, state, creation; never secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			keys, err := c.ListAWSKeys(cmd.Context())
			if err != nil {
				return err
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, map[string]any{"AccessKeyMetadata": keys})
			}
			mine := ""
			if f, err := clientconfig.Load(clientconfig.Path()); err == nil {
				mine = f.AWSAccessKeyID
			}
			t := newTable(cmd.OutOrStdout(), "ACCESS KEY ID", "STATUS", "CREATED", "CREATED BY", "IN CONFIG")
			for _, k := range keys {
				created := "-"
				if k.CreateDate != nil {
					created = k.CreateDate.Format(time.RFC3339) + " (" + age(*k.CreateDate) + ")"
				}
				inConfig := ""
				if k.AccessKeyId == mine {
					inConfig = "yes"
				}
				t.row(k.AccessKeyId, k.Status, created, orDash(k.CreatedBy), inConfig)
			}
			return t.flush()
		},
	}
	ls.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")

	setStatus := func(use, status, short string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ACCESS_KEY_ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := g.client()
				if err != nil {
					return err
				}
				m, err := c.SetAWSKeyStatus(cmd.Context(), args[0], status)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "access key %s is %s\n", m.AccessKeyId, m.Status)
				return nil
			},
		}
	}
	rm := &cobra.Command{
		Use:     "rm ACCESS_KEY_ID",
		Aliases: []string{"delete"},
		Short:   "Remove an admin AWS access key; refused on every server at once (not the last active key)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			m, err := c.DeleteAWSKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed access key %s\n", m.AccessKeyId)
			return nil
		},
	}
	cmd.AddCommand(create, ls,
		setStatus("deactivate", model.AccessKeyInactive, "Make a key Inactive: refused on every server at once, until activated again (not the last active key)"),
		setStatus("activate", model.AccessKeyActive, "Make an Inactive key Active again"),
		rm)
	return cmd
}
