// Command orchlet is Orch's agent: it joins a cluster and runs the tasks
// placed on its host in Docker (or, with --runtime fake, in memory for
// scale tests). It only wires flags to pkg/agent.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/clientconfig"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newCmd() *cobra.Command {
	var (
		servers, token, nodeName, rt, listen, advertise, logLevel string
		cpu, memory                                               int
		attrs                                                     []string
		statsInterval, stoppedRetention                           time.Duration
		taskListen, taskHost, stateDir                            string
		fnListen                                                  string
		fnPerEnv                                                  int
		fnIdle, fnStop                                            time.Duration
		tokenFile, caFile                                         string
	)
	cmd := &cobra.Command{
		Use:           "orchlet --server URL --join-token TOKEN",
		Short:         "Orch's agent: joins a cluster and runs its tasks on this host",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if servers == "" {
				return errors.New("--server is required (the orch server URL, e.g. http://10.0.0.1:7474)")
			}
			if token == "" {
				token = os.Getenv("ORCH_JOIN_TOKEN")
			}
			if tokenFile == "" {
				tokenFile = os.Getenv("ORCH_JOIN_TOKEN_FILE")
			}
			if token == "" && tokenFile != "" {
				var err error
				if token, err = clientconfig.ReadSecretFile("--join-token-file", tokenFile); err != nil {
					return err
				}
			}
			if token == "" {
				return errors.New("a join token is required: ORCH_JOIN_TOKEN, --join-token-file or --join-token (print it with `orch join-token` on the server host)")
			}
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			attributes := map[string]string{}
			for _, a := range attrs {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return fmt.Errorf("--attribute %q: use KEY=VALUE", a)
				}
				attributes[k] = v
			}
			var runt runtime.Runtime
			switch rt {
			case "docker":
				d, err := docker.New(docker.WithLogger(log))
				if err != nil {
					return fmt.Errorf("connect to Docker: %w", err)
				}
				runt = d
			case "fake":
				runt = fake.New(fake.Config{})
			default:
				return fmt.Errorf("--runtime %q: use docker or fake", rt)
			}
			if nodeName == "" {
				nodeName, _ = os.Hostname()
			}
			if stateDir == "" {
				stateDir = defaultStateDir()
			}
			identity, err := agent.LoadOrCreateIdentity(stateDir)
			if err != nil {
				return fmt.Errorf("%w (--state-dir keeps the host key the node name is bound to)", err)
			}
			trust, err := serverTrust(cmd.Context(), strings.Split(servers, ","), token, caFile, log)
			if err != nil {
				return err
			}
			cp := client.New(client.Config{Servers: trust.servers, Token: token, TLS: trust.tls, Identity: identity})
			ag, err := agent.New(agent.Config{
				NodeName: nodeName, Capacity: model.Resources{CPU: cpu, MemoryMiB: memory}, Attributes: attributes,
				ListenAddr: listen, AdvertiseAddr: advertise, Runtime: runt, ControlPlane: cp, Logger: log,
				StatsInterval: statsInterval, StoppedRetention: stoppedRetention,
				TaskEndpointListen: taskListen, TaskEndpointHost: taskHost, CABundle: trust.caPEM,
				Functions: functionsConfig(rt, cp, fnListen, fnPerEnv, fnIdle, fnStop),
			})
			if err != nil {
				return err
			}
			err = ag.Run(cmd.Context())
			if errors.Is(err, wire.ErrUnauthorized) {
				return fmt.Errorf("the control plane rejected the join token: %w (check --join-token; `orch join-token` prints a valid one)", err)
			}
			if cmd.Context().Err() != nil {
				return nil // interrupted: containers keep running
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&servers, "server", "", "orch server URL(s), comma separated")
	f.StringVar(&token, "join-token", "", "token to join with (prefer env ORCH_JOIN_TOKEN or --join-token-file: argv is visible to every local user)")
	f.StringVar(&tokenFile, "join-token-file", "", "file holding the join token (env ORCH_JOIN_TOKEN_FILE)")
	f.StringVar(&caFile, "ca-file", "", "PEM file of the cluster CA (default: trust the CA the join token pins)")
	f.StringVar(&nodeName, "node-name", "", "node name (default: hostname)")
	f.IntVar(&cpu, "cpu", 0, "cpu units to offer (1024 per core; default: all of the host)")
	f.IntVar(&memory, "memory", 0, "memory in MiB to offer (default: all of the host)")
	f.StringArrayVar(&attrs, "attribute", nil, "node attribute KEY=VALUE (repeatable), for memberOf constraints and spread")
	f.StringVar(&rt, "runtime", "docker", "container runtime: docker, or fake for hollow nodes")
	f.StringVar(&listen, "listen", "", "address of the agent's own HTTP server for log streaming (default: a free loopback port; see --advertise)")
	f.StringVar(&advertise, "advertise", "", "address the control plane uses to reach this agent (default: the listen address)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&statsInterval, "stats-interval", 10*time.Second, "how often to sample running tasks' cpu and memory (negative: never)")
	f.DurationVar(&stoppedRetention, "stopped-retention", agent.DefaultStoppedRetention, "how long a stopped task's containers are kept (for orch logs) before they are removed")
	f.StringVar(&taskListen, "task-endpoint-listen", "", "address of the task endpoints (ECS metadata v4, scale-in protection) containers call (default: the port the node's containers record from the previous run, else a free one; 0.0.0.0 with Docker, else 127.0.0.1)")
	f.StringVar(&taskHost, "task-endpoint-host", "", "host containers use to reach the task endpoints (default: host.docker.internal with Docker)")
	f.StringVar(&fnListen, "function-listen", "", "address function environments' Runtime API endpoints listen on, each on a free port (default: docker0's address)")
	f.IntVar(&fnPerEnv, "function-concurrency", 4, "invocations one function environment runs at once (AWS_LAMBDA_MAX_CONCURRENCY)")
	f.DurationVar(&fnIdle, "function-idle-timeout", 5*time.Minute, "stop a function environment unused this long (scale to zero)")
	f.DurationVar(&fnStop, "function-stop-timeout", agent.DefaultFunctionStopTimeout, "on stop (SIGTERM), how long to let running function invocations finish; their results are then posted (up to 10 s more) before the environments stop")
	f.StringVar(&stateDir, "state-dir", "", "where the host key the node name is bound to is kept (default: /var/lib/orchlet as root, else ~/.orch/orchlet)")
	return cmd
}

// functionsConfig runs function environments with Docker only: the fake
// runtime cannot run a Lambda runtime client.
// The agent attaches its invocation stream to every --server replica.
func functionsConfig(rt string, cp *client.Client, listen string, perEnv int, idle, stop time.Duration) *agent.FunctionsConfig {
	if rt != "docker" {
		return nil
	}
	planes := func() []agent.FunctionControlPlane {
		var out []agent.FunctionControlPlane
		for _, c := range cp.PerServer() {
			out = append(out, c)
		}
		return out
	}
	return &agent.FunctionsConfig{ListenAddr: listen, PerEnvironment: perEnv, IdleTimeout: idle, StopTimeout: stop, Planes: planes}
}

// defaultStateDir is /var/lib/orchlet for root, else ~/.orch/orchlet.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/orchlet"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".orch", "orchlet")
	}
	return filepath.Join(os.TempDir(), "orchlet-"+strconv.Itoa(os.Getuid()))
}
