package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/pki"
	"github.com/spf13/cobra"
)

// secretsCmd rotates the key that seals secrets in etcd, online:
//
//	orch secrets add-key            # on one server host: a new key heads the key file
//	(copy the file to every server; each re-reads it within seconds)
//	orch secrets rotate             # admin: every sealed value re-sealed with the new key
//	orch secrets remove-key OLD     # on every server host, once status shows no value under OLD
//
// add-key and remove-key edit a local file (they need no server and no
// token); status and rotate call the API with an admin token.
func secretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secrets", Short: "Rotate the key that seals secrets in etcd (the servers' secrets key file)"}
	var keyFile, dataDir, output string
	fileFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&keyFile, "secrets-key", "", "the secrets key file (default: secrets.key beside --data-dir, as orch server uses)")
		c.Flags().StringVar(&dataDir, "data-dir", defaultDir("data"), "the server's --data-dir, to find the default key file")
	}
	path := func() (string, error) {
		if keyFile != "" {
			return keyFile, nil
		}
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return "", err
		}
		return filepath.Join(filepath.Dir(abs), "secrets.key"), nil
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Show every live server's key ids, the key new secrets are sealed with, and how many sealed values each key holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.SecretsStatus(cmd.Context())
			if err != nil {
				return err
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, st)
			}
			t := newTable(cmd.OutOrStdout(), "SERVER", "KEYS (NEWEST FIRST)", "SEALS WITH", "UPDATED")
			for _, s := range st.Servers {
				t.row(s.Server, strings.Join(s.Keys, ","), s.Sealing, s.Updated.Format(time.RFC3339))
			}
			if err := t.flush(); err != nil {
				return err
			}
			ids := make([]string, 0, len(st.ValuesByKey))
			for id := range st.ValuesByKey {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			fmt.Fprintln(cmd.OutOrStdout())
			t = newTable(cmd.OutOrStdout(), "KEY", "SEALED VALUES IN ETCD")
			for _, id := range ids {
				t.row(id, fmt.Sprint(st.ValuesByKey[id]))
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nunder older keys: %d\nin clear: %d\n", st.UnderOldKeys, st.InClear)
			if st.UnderOldKeys > 0 || st.InClear > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "run orch secrets rotate to seal them all with key "+st.SealingKey)
			}
			return nil
		},
	}
	status.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")

	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-seal every secret in etcd with the newest key of the servers' key file (admin)",
		Long: "Re-seal every secret in etcd with the newest key of the servers' key file.\n\n" +
			"Every live server must hold that key first (orch secrets add-key on one host, then the same file on every server):\n" +
			"the rotation waits a few seconds for them to seal with it, and otherwise names the servers that do not.\n" +
			"Afterwards no value uses the older keys: take them out of every server's file (orch secrets remove-key ID).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			rep, err := c.RotateSecrets(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d values in %d records with key %s (%d of them were in clear)\n", rep.Resealed, rep.Records, rep.SealingKey, rep.Sealed)
			if rep.InClear > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d secrets are still in clear (written during the rotation?): run it again\n", rep.InClear)
			}
			for id, n := range rep.ValuesByKey {
				if id != rep.SealingKey && n > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "key %s still seals %d values (written during the rotation?): run it again before removing the key\n", id, n)
				}
			}
			return nil
		},
	}

	addKey := &cobra.Command{
		Use:   "add-key",
		Short: "Put a new key at the head of a secrets key file (local file; the older keys stay to open what they sealed)",
		Example: "  sudo -u orch orch secrets add-key --secrets-key /etc/orch/secrets.key\n" +
			"  # copy /etc/orch/secrets.key to every other server (0600), then: orch secrets rotate",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			id, err := pki.AddKey(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added key %s to %s (newest)\n", id, p)
			fmt.Fprintf(cmd.ErrOrStderr(), "next: copy %s to every other server (mode 0600); servers re-read it and seal with %s once all hold it; then orch secrets rotate\n", p, id)
			return nil
		},
	}
	fileFlags(addKey)

	removeKey := &cobra.Command{
		Use:   "remove-key KEY_ID",
		Short: "Take an old key out of a secrets key file (local file; after orch secrets rotate, on every server)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			if err := pki.RemoveKey(p, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed key %s from %s\n", args[0], p)
			return nil
		},
	}
	fileFlags(removeKey)
	cmd.AddCommand(status, rotate, addKey, removeKey)
	return cmd
}
