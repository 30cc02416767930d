// Command orch is Orch's CLI and server: `orch server`, `orch dev`, and the
// kubectl-like client verbs. It only wires flags to packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/clientconfig"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the client settings every verb shares.
type globals struct {
	server    string
	token     string
	tokenFile string
	caFile    string
}

// client builds an API client from flags, env and the config file, in that
// order of precedence.
func (g *globals) client() (*client.Client, error) {
	f, err := clientconfig.Load(clientconfig.Path())
	if err != nil {
		return nil, err
	}
	server := firstNonEmpty(g.server, os.Getenv("ORCH_SERVER"), f.AllServers())
	token := firstNonEmpty(g.token, os.Getenv("ORCH_TOKEN"))
	if tf := firstNonEmpty(g.tokenFile, os.Getenv("ORCH_TOKEN_FILE")); token == "" && tf != "" {
		if token, err = clientconfig.ReadSecretFile("--token-file", tf); err != nil {
			return nil, err
		}
	}
	token = firstNonEmpty(token, f.Token)
	tlsCfg, err := f.TLS(firstNonEmpty(g.caFile, os.Getenv("ORCH_CA_FILE")))
	if err != nil {
		return nil, err
	}
	if server == "" {
		return nil, errors.New("no orch server configured: pass --server URL, set ORCH_SERVER, or start one with `orch dev` (it writes " + clientconfig.Path() + ")")
	}
	var servers []string
	for _, s := range strings.Split(server, ",") {
		if s = strings.TrimSpace(s); s != "" {
			servers = append(servers, s)
		}
	}
	return client.New(client.Config{Servers: servers, Token: token, TLS: tlsCfg}), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "orch",
		Short:         "Orch: a self-hosted container orchestrator in the style of Amazon ECS",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().StringVar(&g.server, "server", "", "orch server URL(s), comma separated (env ORCH_SERVER)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API token (env ORCH_TOKEN; prefer --token-file or the env: argv is visible to every local user)")
	root.PersistentFlags().StringVar(&g.tokenFile, "token-file", "", "file holding the API token (env ORCH_TOKEN_FILE)")
	root.PersistentFlags().StringVar(&g.caFile, "ca-file", "", "PEM file of the cluster CA to trust (env ORCH_CA_FILE; default: the ca in the client config)")
	root.AddCommand(
		serverCmd(), devCmd(), joinTokenCmd(g), awsEnvCmd(g), awsKeyCmd(g), tokenCmd(g),
		applyCmd(g), getCmd(g), describeCmd(g), deleteCmd(g),
		runCmd(g), stopCmd(g), logsCmd(g), nodeCmd(g),
		auditCmd(g), policyCmd(g), secretsCmd(g), usageCmd(g),
	)
	root.AddCommand(kindCommands(g)...)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
