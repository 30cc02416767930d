// Package server is the composition root of one orch server process: the
// store (embedded or external etcd), the caches, and one explicit, ordered
// list of features (core: task definitions, tasks, nodes and the
// leader-elected reconcilers; services; queues), each contributing its
// routes, manifest kinds and background loops through the Feature
// interface, served by the HTTP API on one listener. cmd/orch and the
// in-process test cluster use it.
//
// Example:
//
//	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:7474", DataDir: dir})
//	defer srv.Close()
//	fmt.Println(srv.URL, srv.Bootstrap.AdminToken)
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/ecs"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/controller/reconcile"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/pki"
	"github.com/orch-project/orch/pkg/store"
	"github.com/orch-project/orch/pkg/topic"
	"github.com/orch-project/orch/pkg/ui"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Node liveness defaults (see controller.DefaultNodeTTL and
// reconcile.DefaultNodeLostGrace).
const (
	DefaultNodeTTL       = controller.DefaultNodeTTL
	DefaultNodeLostGrace = reconcile.DefaultNodeLostGrace
)

// Config configures a server.
type Config struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string
	// DataDir holds the embedded etcd (ignored with EtcdEndpoints).
	DataDir       string
	EtcdEndpoints []string
	// QueueStore is where queue messages are kept: "local" (one segment
	// log per queue shard in DataDir/queues; the default with the
	// embedded etcd, a single server) or "etcd" (the only choice with
	// EtcdEndpoints, where shards move between replicas).
	QueueStore string
	// ID names the process in the controller election; default host:port.
	ID     string
	Logger *slog.Logger
	// NodeLostGrace, StoppedRetention: see reconcile.Config.
	NodeLostGrace    time.Duration
	StoppedRetention time.Duration
	// NodeTTL is how long a node stays alive without heartbeats (default
	// controller.DefaultNodeTTL, 6 s).
	NodeTTL time.Duration
	// SessionTTL is the election session ttl in seconds (default 4).
	SessionTTL int
	// SMTP is the relay for topics' email subscriptions (nil: none).
	SMTP *topic.SMTP
	// FunctionRetryDelay is the wait before a failed Event invocation's
	// first retry (the second waits twice as long; default 10 s).
	FunctionRetryDelay time.Duration
	// AuditMaxEntries and AuditMaxAge bound the audit log (defaults
	// store.DefaultAuditMaxEntries and DefaultAuditMaxAge); a negative
	// AuditMaxEntries turns the audit log off (benchmarks measure its
	// cost that way).
	AuditMaxEntries int
	AuditMaxAge     time.Duration
	// PlainHTTP serves plain HTTP instead of TLS (an explicit opt-out:
	// the default is TLS with a certificate from the cluster CA).
	PlainHTTP bool
	// TLSHosts are extra names and addresses for the serving certificate
	// (an address agents or clients use that is not a local interface's).
	TLSHosts []string
	// SecretsKey is the file of the key that seals secrets in etcd;
	// default DataDir/../secrets.key, created on first start (mode 0600).
	SecretsKey string
	// EtcdTLS: client-certificate TLS to an external etcd.
	EtcdTLS *store.EtcdTLS
	// ServerCertValidity is the serving certificate's lifetime (0:
	// pki.DefaultServerValidity, a year); it is renewed at 2/3 of it.
	// Tests shorten it to see renewals; there is no flag.
	ServerCertValidity time.Duration
	// NodeCertValidity is the lifetime of the certificates issued to
	// agents for their log servers (0: pki.DefaultNodeValidity, a year);
	// agents renew theirs at 2/3 of it. Tests shorten it; there is no flag.
	NodeCertValidity time.Duration
}

// Credentials are created once per cluster, at its first start. Only
// hashes of the tokens are stored, so this is the one time they are known.
type Credentials struct {
	AdminToken         string
	JoinToken          string
	AWSAccessKeyID     string
	AWSSecretAccessKey string
}

// Server is a running orch server.
type Server struct {
	Store      *store.Store
	Caches     *controller.Caches
	Reconciler *reconcile.Reconciler
	API        *api.Server
	// URL is https://host:port of the listener (http:// with PlainHTTP).
	URL string
	// CA is the cluster CA (nil with PlainHTTP); CA.CertPEM is what
	// clients trust, CA.Pin() what join tokens carry.
	CA *pki.CA
	// Bootstrap is set when this start created the cluster's credentials.
	Bootstrap *Credentials

	ui *ui.UI

	httpSrv *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	log     *slog.Logger
	// stopCtl ends the features' loops (the controllers, the queue broker,
	// ...) alone; ctlWG waits for them.
	stopCtl context.CancelFunc
	ctlWG   sync.WaitGroup
}

// Start opens the store, bootstraps credentials on first start, and serves.
func Start(ctx context.Context, o Config) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:7474"
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another orch running? pick another --listen)", o.Listen, err)
	}
	queueLogDir, err := queueLogDir(o)
	if err != nil {
		ln.Close()
		return nil, err
	}
	sealer, sealerPath, err := openSealer(o)
	if err != nil {
		ln.Close()
		return nil, err
	}
	st, err := store.Open(ctx, store.Config{Endpoints: o.EtcdEndpoints, DataDir: o.DataDir, Logger: o.Logger, Secrets: sealer, TLS: o.EtcdTLS})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{Store: st, log: o.Logger, URL: "http://" + advertise(ln.Addr().String())}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = host + "/" + ln.Addr().String()
	}
	// Agree with the other servers on the key new secrets are sealed with
	// before anything is sealed (the cluster CA, first credentials).
	secretsKeys, err := newSecretsKeys(ctx, sealerPath, sealer, st, o.ID, o.Logger)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("server: the secrets key ring: %w", err)
	}
	// A start that fails takes its key ring's record out of etcd at once,
	// so it does not hold up a rotation until its lease runs out.
	started := false
	defer func() {
		if !started {
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			secretsKeys.pub.Withdraw(wctx)
			cancel()
		}
	}()
	var tlsCfg *tls.Config
	if !o.PlainHTTP {
		if s.CA, err = clusterCA(ctx, st); err == nil {
			tlsCfg, err = servingTLS(s.CA, o.Listen, o.TLSHosts, o.ServerCertValidity)
		}
		if err != nil {
			ln.Close()
			st.Close()
			return nil, err
		}
		s.URL = "https://" + advertise(ln.Addr().String())
	}
	creds, err := bootstrap(ctx, st, s.JoinTokenPrefix())
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	s.Bootstrap = creds
	clusterID, err := st.ClusterID(ctx)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("server: reading the cluster id: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Caches = controller.NewCaches(st)
	keys := newAWSKeys(st, s.Caches.Tasks)
	retireSharedTaskKey(ctx, st, o.Logger)
	queues := newQueuesFeature(st, s.URL, queueLogDir, keys, o.Logger)
	s.Reconciler = reconcile.New(reconcile.Config{
		Store: st, Caches: s.Caches, ID: o.ID, Logger: o.Logger, NodeLostGrace: o.NodeLostGrace,
		StoppedRetention: o.StoppedRetention, SessionTTL: o.SessionTTL, Metrics: reconcile.NewMetrics(reg),
		Queues: newQueueBacklog(queues.queues, st),
	})
	nodes := controller.NewNodes(st, s.Caches)
	if o.NodeTTL > 0 {
		nodes.TTL = o.NodeTTL
		// Keep three heartbeats per ttl, as with the defaults.
		nodes.Interval = min(nodes.Interval, max(o.NodeTTL/3, 200*time.Millisecond))
	}

	tasks := controller.NewTasks(st, s.Caches)
	services := controller.NewServices(st, s.Caches)
	taskDefs := controller.NewTaskDefs(st)
	functions := newFunctionsFeature(st, s.Caches, queues.queues, keys, o.FunctionRetryDelay, o.Logger)
	topics := newTopicsFeature(st, queues.queues, functions.svc, s.URL, keys, o.Logger, o.SMTP)
	audit := st.NewAuditLog(o.Logger)
	if o.AuditMaxEntries > 0 {
		audit.MaxEntries = o.AuditMaxEntries
	}
	if o.AuditMaxAge > 0 {
		audit.MaxAge = o.AuditMaxAge
	}
	var auditLog api.AuditLog = audit
	auditTo := audit
	if o.AuditMaxEntries < 0 {
		auditLog, auditTo = nil, nil
	}
	// Replicas pass the client's address along with a call they forward
	// to the owner, proven with a key only servers have (derived from the
	// replica key every server shares, sealed in etcd), so the owner's
	// audit log names the client and not the forwarding replica.
	replicaKey, err := st.ReplicaKey(ctx)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	queues.aws.SetReplicaKey(replicaKey)
	topics.aws.SetReplicaKey(replicaKey)
	var slotTransport http.RoundTripper
	if s.CA != nil {
		// Slot requests (functions' reserved concurrency) go to the
		// owner as often as calls come: keep a connection per caller.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = pki.PinnedTLS(s.CA.Pin(), nil)
		tr.MaxIdleConnsPerHost = 64
		slotTransport = tr
	}
	functions.setReplicaKey(replicaKey, slotTransport)
	if s.CA != nil {
		// Replicas forward SQS/SNS calls to the owner over TLS, trusting
		// the cluster CA (by its pin: the owner's advertised address need
		// not be in its certificate, as for agents).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = pki.PinnedTLS(s.CA.Pin(), nil)
		queues.aws.SetForwardTransport(tr)
		topics.aws.SetForwardTransport(tr)
	}
	issueNodeCert, agentTLS := logCallbackTLS(s.CA, tlsCfg, o.NodeCertValidity)
	dashboard := newUIFeature(uiDeps{audit: auditTo, store: st, caches: s.Caches, tasks: tasks, nodes: nodes, services: services, taskDefs: taskDefs,
		queues: queues.queues, topics: topics.topics, fns: functions.svc, logger: o.Logger, agentTLS: agentTLS})
	s.ui = dashboard.d
	// The features, in order: the order of their kinds in messages.
	features := []Feature{
		coreFeature{
			Feature: api.Core(api.CoreConfig{
				TaskDefinitions: taskDefs,
				Tasks:           tasks,
				Nodes:           nodes,
				Source:          taskSource{s.Caches.Tasks},
				Tokens:          st,
				ContainerEnv:    containerEnv(s.CA != nil),
				JoinTokenPrefix: s.JoinTokenPrefix(),
				Logger:          o.Logger,
				ClusterID:       clusterID,
				IssueNodeCert:   issueNodeCert,
				AgentTLS:        agentTLS,
				CallbackToken:   st.NodeCallbackToken,
			}),
			reconciler: s.Reconciler,
		},
		servicesFeature{api.ServicesFeature(services)},
		queues,
		topics,
		newScalingFeature(st, queues.queues, keys, o.Logger),
		functions,
		newUsageFeature(s.Caches, functions.svc, reg),
		newECSFeature(keys, ecs.Backends{TaskDefinitions: taskDefs, Tasks: tasks, Services: services, Nodes: nodes, Cluster: controller.NewCluster(st)}, o.Logger),
		iamFeature{st: st, tasks: s.Caches.Tasks, log: o.Logger},
		newAWSKeysFeature(st, keys, o.Logger),
		dashboard,
		securityFeature{api.PolicyFeature(controller.PolicyOf(st)), audit},
		secretsFeature{api.SecretsFeature(secretsKeys), secretsKeys},
	}
	apiFeatures := make([]api.Feature, len(features))
	for i, f := range features {
		apiFeatures[i] = f
	}

	var ready atomic.Bool
	health := &storeHealth{st: st}
	s.API = api.New(api.Config{
		Features:   apiFeatures,
		Tokens:     st,
		Logger:     o.Logger,
		Registry:   reg,
		Ready:      ready.Load,
		Leader:     s.Reconciler.IsLeader,
		AWSGate:    awsGate(keys),
		Writable:   health.Writable,
		Audit:      auditLog,
		ReplicaKey: replicaKey,
	})

	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.Caches.Run(rctx) })
	s.wg.Go(func() { health.run(rctx) })
	// The features' loops (the leader-elected controllers among them) get
	// their own context, so StopControllers can end them while the caches
	// and the listener keep serving (orch dev stops its containers after).
	ctlCtx, stopCtl := context.WithCancel(rctx)
	s.stopCtl = stopCtl
	for _, f := range features {
		s.ctlWG.Go(func() {
			if err := f.Run(ctlCtx); err != nil && ctlCtx.Err() == nil {
				o.Logger.Error("a server feature's loop stopped", "feature", fmt.Sprintf("%T", f), "err", err)
			}
		})
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	err = s.Caches.WaitReady(wctx)
	wcancel()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("server: caches did not fill: %w", err)
	}
	ready.Store(true)

	s.httpSrv = &http.Server{Handler: s.API.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, TLSConfig: tlsCfg}
	// HTTP/1.1 only, as SQS, SNS and Lambda's own endpoints speak: the stock
	// SDKs offer h2 over TLS, and Go's HTTP/2 server costs more CPU per small
	// request than keep-alive HTTP/1.1 (framing, flow control, a goroutine
	// per stream), which made TLS look dearer than the encryption is.
	s.httpSrv.Protocols = new(http.Protocols)
	s.httpSrv.Protocols.SetHTTP1(true)
	s.wg.Go(func() {
		serve := func() error { return s.httpSrv.Serve(ln) }
		if tlsCfg != nil {
			serve = func() error { return s.httpSrv.ServeTLS(ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http server stopped", "err", err)
		}
	})
	o.Logger.Info("orch server listening", "url", s.URL, "embeddedEtcd", st.Embedded(), "serverId", o.ID, "tls", tlsCfg != nil)
	started = true
	return s, nil
}

// JoinTokenPrefix starts the join tokens this server mints: with TLS they
// pin the cluster CA, so an agent given only the token trusts the server.
func (s *Server) JoinTokenPrefix() string {
	if s.CA == nil {
		return pki.JoinTokenPrefix("")
	}
	return pki.JoinTokenPrefix(s.CA.Pin())
}

// ClientTLS is a TLS configuration trusting this server (nil with
// PlainHTTP): for tests and in-process clients.
func (s *Server) ClientTLS() *tls.Config {
	if s.CA == nil {
		return nil
	}
	c, _ := pki.ClientTLS(s.CA.CertPEM)
	return c
}

// advertise turns a listen address into one clients can dial.
func advertise(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}

// StopControllers stops every feature's loops, the leader-elected
// controllers (placement, services, ...) among them, and waits for them
// while the API keeps serving, so tasks
// stopping during a shutdown are not replaced. orch dev calls it before
// stopping its containers; Close calls it first.
func (s *Server) StopControllers() {
	if s.stopCtl != nil {
		s.stopCtl()
	}
	s.ctlWG.Wait()
}

// Close stops the controllers, then serving, and closes the store.
func (s *Server) Close() error {
	s.StopControllers()
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.httpSrv.Shutdown(ctx)
		cancel()
		s.httpSrv.Close()
	}
	s.cancel()
	s.wg.Wait()
	return s.Store.Close()
}

// bootstrap creates the cluster's first credentials once.
func bootstrap(ctx context.Context, st *store.Store, joinPrefix string) (*Credentials, error) {
	creds := &Credentials{
		AdminToken:         api.NewToken("orchadm_"),
		JoinToken:          api.NewToken(joinPrefix),
		AWSAccessKeyID:     "AKIA" + randomUpper(16),
		AWSSecretAccessKey: randomBase62(40),
	}
	ran, err := st.Bootstrap(ctx, api.NewToken(""), func() error {
		if err := st.PutToken(ctx, creds.AdminToken, auth.RoleAdmin, "admin"); err != nil {
			return err
		}
		if err := st.PutToken(ctx, creds.JoinToken, auth.RoleJoin, "join"); err != nil {
			return err
		}
		return st.PutAWSKey(ctx, store.AWSKey{AccessKeyID: creds.AWSAccessKeyID, SecretAccessKey: creds.AWSSecretAccessKey, Role: auth.RoleAdmin,
			Status: model.AccessKeyActive, CreatedAt: time.Now().UTC().Truncate(time.Second), CreatedBy: "first start"})
	})
	if err != nil || !ran {
		return nil, err
	}
	return creds, nil
}

const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomUpper(n int) string  { return randomFrom(base62[:26], n) }
func randomBase62(n int) string { return randomFrom(base62, n) }

func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
