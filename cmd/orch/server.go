package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/clientconfig"
	"github.com/orch-project/orch/pkg/server"
	"github.com/orch-project/orch/pkg/store"
	"github.com/orch-project/orch/pkg/topic"
	"github.com/spf13/cobra"
)

type serverFlags struct {
	debugAddr string
	listen    string
	dataDir   string
	endpoints string
	logLevel  string
	// smtp* configure the relay email subscriptions go through; the
	// credentials come from a file or the environment, never argv.
	smtpRelay, smtpFrom, smtpCredFile string
	// logOut receives the server's log; nil: stderr.
	logOut io.Writer
	// Node liveness: how long without a heartbeat before a node's lease
	// runs out, and how long after that before its tasks are stopped.
	nodeTTL, nodeLostGrace time.Duration
	// fnRetryDelay is the wait before a failed Event invocation's first retry.
	fnRetryDelay time.Duration
	// TLS: plainHTTP opts out; tlsSANs are extra certificate names.
	plainHTTP bool
	tlsSANs   []string
	// secretsKey seals secrets in etcd; etcdCA/Cert/Key: client-cert TLS
	// to an external etcd.
	secretsKey, etcdCA, etcdCert, etcdKey string
	// queueStore is where queue messages live: "local" (segment logs in
	// the data dir, with the embedded etcd only) or "etcd".
	queueStore string
}

func (f *serverFlags) bind(cmd *cobra.Command, defaultDir string) {
	cmd.Flags().StringVar(&f.listen, "listen", ":7474", "address to serve the API, agents and AWS protocols on")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", defaultDir, "directory for the embedded etcd")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().DurationVar(&f.nodeTTL, "node-ttl", server.DefaultNodeTTL, "a node without heartbeats for this long is not alive (agents heartbeat 3 times per ttl)")
	cmd.Flags().DurationVar(&f.nodeLostGrace, "node-lost-grace", server.DefaultNodeLostGrace, "after a node stops being alive, wait this long before stopping its tasks as NodeLost (service tasks are then replaced)")
	cmd.Flags().DurationVar(&f.fnRetryDelay, "function-retry-delay", 10*time.Second, "wait before retrying a failed Event (asynchronous) function invocation; the second retry waits twice as long")
	cmd.Flags().StringVar(&f.debugAddr, "debug-listen", "", "serve Go's /debug/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	cmd.Flags().StringVar(&f.smtpRelay, "smtp-relay", "", "SMTP relay host:port for topics' email and email-json subscriptions (credentials: ORCH_SMTP_USERNAME/ORCH_SMTP_PASSWORD or --smtp-credentials-file)")
	cmd.Flags().StringVar(&f.smtpFrom, "smtp-from", "", "sender address of topic emails (default no-reply@orch.local)")
	cmd.Flags().StringVar(&f.smtpCredFile, "smtp-credentials-file", "", "file with the SMTP username on its first line and the password on its second")
	cmd.Flags().BoolVar(&f.plainHTTP, "plain-http", false, "serve plain HTTP instead of TLS (tokens and secrets then cross the network in clear: loopback or a trusted network only)")
	cmd.Flags().StringSliceVar(&f.tlsSANs, "tls-san", nil, "extra host name or IP address for the server certificate (repeatable; local interface addresses, the host name, localhost and host.docker.internal are always in it)")
	cmd.Flags().StringVar(&f.queueStore, "queue-store", "", "where queue messages are kept: local (segment logs in --data-dir/queues; the default with the embedded etcd) or etcd (the only choice, and the default, with --etcd-endpoints)")
	cmd.Flags().StringVar(&f.secretsKey, "secrets-key", "", "file of the key sealing secrets in etcd (default: secrets.key beside --data-dir, created on first start; every server of a cluster needs the same one)")
}

// smtp is the relay configuration, nil without --smtp-relay.
func (f *serverFlags) smtp() (*topic.SMTP, error) {
	if f.smtpRelay == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(f.smtpRelay); err != nil {
		return nil, fmt.Errorf("--smtp-relay %q: want host:port (e.g. mail.example.com:587): %v", f.smtpRelay, err)
	}
	c := &topic.SMTP{Relay: f.smtpRelay, From: f.smtpFrom, Username: os.Getenv("ORCH_SMTP_USERNAME"), Password: os.Getenv("ORCH_SMTP_PASSWORD")}
	if f.smtpCredFile != "" {
		b, err := os.ReadFile(f.smtpCredFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-credentials-file: %v", err)
		}
		lines := strings.SplitN(strings.TrimRight(string(b), "\r\n"), "\n", 2)
		if len(lines) != 2 {
			return nil, fmt.Errorf("--smtp-credentials-file %s: want the username on the first line and the password on the second", f.smtpCredFile)
		}
		c.Username, c.Password = strings.TrimSpace(lines[0]), strings.TrimRight(lines[1], "\r")
	}
	return c, nil
}

func defaultDir(name string) string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".orch", name)
	}
	return filepath.Join(home, ".orch", name)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func (f *serverFlags) start(ctx context.Context) (*server.Server, error) {
	var eps []string
	if f.endpoints != "" {
		eps = strings.Split(f.endpoints, ",")
	}
	log := newLogger(f.logLevel, f.logOut)
	slog.SetDefault(log)
	setMemoryDefaults()
	go returnMemoryWhenIdle(ctx, idleTick, idleBusyBytes, heapAllocated, debug.FreeOSMemory)
	if f.debugAddr != "" {
		go func() {
			if err := http.ListenAndServe(f.debugAddr, pprofMux()); err != nil {
				log.Error("debug listener stopped", "address", f.debugAddr, "err", err)
			}
		}()
	}
	smtp, err := f.smtp()
	if err != nil {
		return nil, err
	}
	var etcdTLS *store.EtcdTLS
	if f.etcdCA != "" || f.etcdCert != "" || f.etcdKey != "" {
		etcdTLS = &store.EtcdTLS{CAFile: f.etcdCA, CertFile: f.etcdCert, KeyFile: f.etcdKey}
	}
	return server.Start(ctx, server.Config{Listen: f.listen, DataDir: f.dataDir, EtcdEndpoints: eps, Logger: log, SMTP: smtp,
		NodeTTL: f.nodeTTL, NodeLostGrace: f.nodeLostGrace, FunctionRetryDelay: f.fnRetryDelay, PlainHTTP: f.plainHTTP, TLSHosts: f.tlsSANs,
		SecretsKey: f.secretsKey, EtcdTLS: etcdTLS, QueueStore: f.queueStore})
}

// setMemoryDefaults sets the server's GC target and soft memory limit
// unless GOGC or GOMEMLIMIT is in the environment.
func setMemoryDefaults() {
	if os.Getenv("GOGC") == "" {
		// The embedded etcd and the API allocate short-lived garbage at a
		// high rate; a larger GC target trades some memory for about 8 %
		// more single-message queue throughput (docs/benchmarks.md).
		// GOGC in the environment still wins.
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit makes the GC work harder as the heap nears it,
		// instead of letting GOGC=300 grow it to four times the live heap
		// under load; the runtime returns memory above the limit to the OS.
		// It is soft: a larger live heap is still served (GC runs more
		// often). GOMEMLIMIT in the environment still wins (off disables).
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// defaultMemoryLimit is the server's Go soft memory limit unless
// GOMEMLIMIT is set (docs/operations.md).
const defaultMemoryLimit = 1 << 30

// pprofMux serves net/http/pprof's handlers, on the --debug-listen
// listener only.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// loopbackOnly says whether a --listen address accepts connections only
// from loopback, which Docker containers on the same host cannot use.
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// announce prints how to talk to a new cluster and writes the client config.
func announce(cmd *cobra.Command, srv *server.Server) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "orch server listening on %s\n", srv.URL)
	fmt.Fprintf(out, "dashboard: %s/ui (sign in with the admin token, or a viewer token from `orch token create --role viewer`)\n", srv.URL)
	c := srv.Bootstrap
	caPEM := ""
	if srv.CA != nil {
		caPEM = string(srv.CA.CertPEM)
		fmt.Fprintf(out, "TLS with the cluster CA (fingerprint sha256 %s); join tokens pin it\n", srv.CA.Pin())
	} else {
		fmt.Fprintf(out, "warning: --plain-http: the API, agents' tokens and AWS secrets cross the network in clear\n")
	}
	if c == nil {
		refreshClientConfig(out, srv.URL, caPEM)
		if _, err := os.Stat(clientconfig.Path()); err == nil {
			fmt.Fprintf(out, "cluster credentials were created at its first start (see %s)\n", clientconfig.Path())
		} else {
			// Another server of the cluster made them (a second replica on
			// one etcd): do not point at a file that is not here.
			fmt.Fprintf(out, "cluster credentials were created at the cluster's first start, in the client config of the server that made them (none at %s here)\n", clientconfig.Path())
		}
		return
	}
	path := clientconfig.Path()
	cfg := &clientconfig.File{Server: srv.URL, Token: c.AdminToken, JoinToken: c.JoinToken,
		AWSAccessKeyID: c.AWSAccessKeyID, AWSSecretAccessKey: c.AWSSecretAccessKey, AWSRegion: "us-east-1", CA: caPEM}
	err := clientconfig.Save(path, cfg)
	if err != nil {
		fmt.Fprintf(out, "warning: could not write the client config %s: %v\n", path, err)
	} else {
		fmt.Fprintf(out, "wrote client config %s\n", path)
	}
	if err == nil && !isTerminal(out) {
		// Not a terminal: this output is a log (journald, a file) that
		// would keep the secrets; the 0600 client config has them.
		fmt.Fprintf(out, "first start: the admin token, join token and AWS key are in %s (mode 0600), not printed because this output is not a terminal; `orch join-token` and `orch aws-env` print them\n", path)
		fmt.Fprintf(out, "join an agent:  ORCH_JOIN_TOKEN=<join token> orchlet --server %s   (or --join-token-file FILE)\n", srv.URL)
		return
	}
	fmt.Fprintf(out, "first start: these credentials are shown once (only their hashes are stored)\n")
	fmt.Fprintf(out, "  admin token: %s\n  join token:  %s\n", c.AdminToken, c.JoinToken)
	fmt.Fprintf(out, "  AWS access key: %s / %s\n", c.AWSAccessKeyID, c.AWSSecretAccessKey)
	fmt.Fprintf(out, "join an agent:  ORCH_JOIN_TOKEN=<join token> orchlet --server %s   (or --join-token-file FILE)\n", srv.URL)
}

// isTerminal says whether w is a terminal (a person reading), not a pipe,
// file or journal that keeps what it is given.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// refreshClientConfig follows a restarted server whose scheme or CA
// changed (an upgrade to TLS, --plain-http added or removed): the client
// config pointing at this address gets its URL and CA updated, so the CLI
// keeps working with no extra step.
func refreshClientConfig(out io.Writer, url, caPEM string) {
	path := clientconfig.Path()
	f, err := clientconfig.Load(path)
	if err != nil || f.Server == "" {
		return
	}
	hostport := func(u string) string { _, hp, _ := strings.Cut(u, "://"); return hp }
	if hostport(f.Server) != hostport(url) || (f.Server == url && f.CA == caPEM) {
		return
	}
	f.Server, f.CA = url, caPEM
	if err := clientconfig.Save(path, f); err == nil {
		fmt.Fprintf(out, "updated the client config %s for %s\n", path, url)
	}
}

func serverCmd() *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (embedded etcd by default, or --etcd-endpoints)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := f.start(cmd.Context())
			if err != nil {
				return err
			}
			announce(cmd, srv)
			<-cmd.Context().Done()
			fmt.Fprintln(cmd.OutOrStdout(), "shutting down")
			return srv.Close()
		},
	}
	f.bind(cmd, defaultDir("data"))
	cmd.Flags().StringVar(&f.endpoints, "etcd-endpoints", "", "external etcd cluster, comma separated (default: embedded etcd)")
	cmd.Flags().StringVar(&f.etcdCA, "etcd-cacert", "", "CA file that signed the external etcd's certificates (https:// endpoints)")
	cmd.Flags().StringVar(&f.etcdCert, "etcd-cert", "", "client certificate file for an external etcd requiring client-certificate auth")
	cmd.Flags().StringVar(&f.etcdKey, "etcd-key", "", "key file of --etcd-cert")
	return cmd
}

func devCmd() *cobra.Command {
	f := &serverFlags{}
	var rt, nodeName, logFile string
	var reset bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a one-host cluster: control plane, embedded etcd and a local agent",
		Long: "orch dev starts the control plane with an embedded etcd and one agent driving the local Docker.\n" +
			"The cluster's state (task definitions, services, queues, tasks) is kept in --data-dir and resumes\n" +
			"at the next start; --reset deletes it first. Server and agent logs go to --log-file.\n" +
			"Ctrl-C stops the controllers (so no service replaces a task), stops and removes the containers\n" +
			"started here, and shuts everything down.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			var runt runtime.Runtime
			switch rt {
			case "docker":
				d, err := docker.New()
				if err != nil {
					return fmt.Errorf("orch dev needs Docker: %w (or try --runtime fake)", err)
				}
				if err := d.Ping(ctx); err != nil {
					return fmt.Errorf("orch dev needs a running Docker daemon: %w (or try --runtime fake)", err)
				}
				runt = d
			case "fake":
				runt = fake.New(fake.Config{})
			default:
				return fmt.Errorf("--runtime %q: use docker or fake", rt)
			}
			if reset {
				// Only ever delete what looks like a data dir orch made.
				if _, err := os.Stat(filepath.Join(f.dataDir, "etcd")); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("--reset: %w", err)
				} else if err != nil && dirHasFiles(f.dataDir) {
					return fmt.Errorf("--reset: %s has no etcd directory, so it is not an orch data dir; not deleting it", f.dataDir)
				}
				if err := os.RemoveAll(f.dataDir); err != nil {
					return fmt.Errorf("--reset: delete %s: %w", f.dataDir, err)
				}
				fmt.Fprintf(out, "reset: deleted %s\n", f.dataDir)
			}
			if logFile == "" {
				logFile = filepath.Join(f.dataDir, "orch-dev.log")
			}
			if err := os.MkdirAll(filepath.Dir(logFile), 0o700); err != nil {
				return fmt.Errorf("create the directory of --log-file %s: %w", logFile, err)
			}
			logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("open --log-file %s: %w", logFile, err)
			}
			defer logf.Close()
			f.logOut = logf
			srv, err := f.start(ctx)
			if err != nil {
				return fmt.Errorf("%w (the server log is %s)", err, logFile)
			}
			announce(cmd, srv)
			fmt.Fprintf(out, "server and agent logs: %s\n", logFile)
			if srv.Bootstrap == nil {
				fmt.Fprintf(out, "resumed the cluster kept in %s: its task definitions, services and queues are back,\n"+
					"and its services start their tasks again (orch dev --reset starts an empty cluster)\n", f.dataDir)
			}
			joinToken := api.NewToken(srv.JoinTokenPrefix())
			if err := srv.Store.PutToken(ctx, joinToken, auth.RoleJoin, "dev-agent"); err != nil {
				srv.Close()
				return err
			}
			host := nodeName
			if host == "" {
				host, _ = os.Hostname()
			}
			// The local agent's host key lives in the data dir, so the
			// node is its own again after orch dev restarts.
			identity, err := agent.LoadOrCreateIdentity(filepath.Join(f.dataDir, "agent"))
			if err != nil {
				srv.Close()
				return err
			}
			cp := client.New(client.Config{Servers: []string{srv.URL}, Token: joinToken, Identity: identity, TLS: srv.ClientTLS()})
			var caBundle []byte
			if srv.CA != nil {
				caBundle = srv.CA.CertPEM
			}
			acfg := agent.Config{NodeName: host, Runtime: runt, ControlPlane: cp, Logger: slog.Default(), CABundle: caBundle}
			if rt == "docker" {
				acfg.Functions = &agent.FunctionsConfig{}
			}
			ag, err := agent.New(acfg)
			if err != nil {
				srv.Close()
				return err
			}
			agentCtx, stopAgent := context.WithCancel(context.Background())
			agentDone := make(chan error, 1)
			go func() { agentDone <- ag.Run(agentCtx) }()
			fmt.Fprintf(out, "local agent: node %s on the %s runtime\n", host, runt.Name())
			if rt == "docker" && loopbackOnly(f.listen) {
				fmt.Fprintf(out, "warning: --listen %s is loopback only: task containers reach the server through the host's\n"+
					"  bridge (host.docker.internal), so their queues and topics will not answer; use --listen :PORT\n", f.listen)
			}
			self := cliName(os.Args[0])
			fmt.Fprintf(out, "try:  %s apply -f examples/manifests && %s get tasks\n", self, self)
			fmt.Fprintf(out, "press Ctrl-C to stop: the containers started here are stopped and removed\n")
			agentErr := error(nil)
			select {
			case <-ctx.Done():
			case agentErr = <-agentDone:
				fmt.Fprintf(out, "agent stopped: %v\n", agentErr)
			}
			return devShutdown(out, srv, ag, stopAgent, agentDone, agentErr == nil, f.dataDir)
		},
	}
	f.bind(cmd, defaultDir("dev"))
	cmd.Flags().StringVar(&rt, "runtime", "docker", "container runtime for the local agent: docker or fake")
	cmd.Flags().StringVar(&nodeName, "node-name", "", "name of the local node (default: hostname)")
	cmd.Flags().StringVar(&logFile, "log-file", "", "where the server and the agent log (default: DATA-DIR/orch-dev.log)")
	cmd.Flags().BoolVar(&reset, "reset", false, "delete --data-dir first: start an empty cluster instead of resuming the last one")
	return cmd
}

// dirHasFiles reports whether dir exists with something in it.
func dirHasFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}

// devShutdown is orch dev's Ctrl-C, in an order that leaves nothing half
// done: the controllers stop first (a service would otherwise replace each
// task as it stops), then the containers stop while the API still records
// their final states, then the agent ends and its containers are removed,
// then the server closes. It says what happened at each step.
func devShutdown(out io.Writer, srv *server.Server, ag *agent.Agent, stopAgent context.CancelFunc, agentDone <-chan error, agentRunning bool, dataDir string) error {
	fmt.Fprintln(out, "stopping the controllers (no task is started or replaced from now on)")
	srv.StopControllers()
	fmt.Fprintln(out, "stopping the containers started here...")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ag.StopAll(sctx); err != nil {
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	stopAgent()
	if agentRunning {
		<-agentDone
	}
	n, err := ag.RemoveAll(sctx)
	if err != nil {
		fmt.Fprintf(out, "warning: %v (list them: docker ps -a --filter label=orch.managed=true)\n", err)
	}
	fmt.Fprintf(out, "stopped and removed %d containers\n", n)
	err = srv.Close()
	fmt.Fprintf(out, "orch dev stopped; the cluster's state is kept in %s for the next orch dev (--reset to start empty)\n", dataDir)
	return err
}

func joinTokenCmd(g *globals) *cobra.Command {
	var mint bool
	cmd := &cobra.Command{
		Use:   "join-token",
		Short: "Print the token agents join with (--new mints another one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := clientconfig.Load(clientconfig.Path())
			if err != nil {
				return err
			}
			if f.JoinToken != "" && !mint && g.server == "" && os.Getenv("ORCH_SERVER") == "" {
				fmt.Fprintln(cmd.OutOrStdout(), f.JoinToken)
				return nil
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			tok, err := c.NewJoinToken(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().BoolVar(&mint, "new", false, "mint a new join token through the API")
	return cmd
}

func awsEnvCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "aws-env",
		Short: "Print export lines that point stock AWS CLIs and SDKs at this cluster",
		Long:  "Use with: eval \"$(orch aws-env)\"",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := clientconfig.Load(clientconfig.Path())
			if err != nil {
				return err
			}
			server := firstNonEmpty(g.server, os.Getenv("ORCH_SERVER"), f.Server)
			if server == "" || f.AWSAccessKeyID == "" {
				return fmt.Errorf("no AWS credentials in %s: start a cluster with `orch dev` or `orch server` first", clientconfig.Path())
			}
			region := firstNonEmpty(f.AWSRegion, "us-east-1")
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "export AWS_ENDPOINT_URL=%s\n", strings.Split(server, ",")[0])
			fmt.Fprintf(out, "export AWS_REGION=%s\n", region)
			fmt.Fprintf(out, "export AWS_DEFAULT_REGION=%s\n", region)
			fmt.Fprintf(out, "export AWS_ACCESS_KEY_ID=%s\n", f.AWSAccessKeyID)
			fmt.Fprintf(out, "export AWS_SECRET_ACCESS_KEY=%s\n", f.AWSSecretAccessKey)
			if f.CA != "" {
				// Stock SDKs and CLIs read the CA to trust from a file.
				caPath := filepath.Join(filepath.Dir(clientconfig.Path()), "ca.pem")
				if err := os.WriteFile(caPath, []byte(f.CA), 0o644); err != nil {
					return fmt.Errorf("write the cluster CA for AWS_CA_BUNDLE: %w", err)
				}
				fmt.Fprintf(out, "export AWS_CA_BUNDLE=%s\n", caPath)
			}
			return nil
		},
	}
}

// cliName is how the user ran orch, for the commands orch dev suggests: a
// path (./bin/orch, as README's quick start runs it) as typed, since
// "orch" alone is not on the PATH after make build; else "orch".
func cliName(arg0 string) string {
	if strings.Contains(arg0, "/") && !strings.Contains(arg0, "go-build") {
		return arg0
	}
	return "orch"
}
