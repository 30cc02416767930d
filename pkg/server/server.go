// Package server assembles one orch server process: the store (embedded or
// external etcd), the caches, the leader-elected controller and the HTTP
// API on one listener. cmd/orch and the in-process test cluster use it.
//
// Example:
//
//	srv, err := server.Start(ctx, server.Options{Listen: "127.0.0.1:7474", DataDir: dir})
//	defer srv.Close()
//	fmt.Println(srv.URL, srv.Bootstrap.AdminToken)
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/api/sqs"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configure a server.
type Options struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string
	// DataDir holds the embedded etcd (ignored with EtcdEndpoints).
	DataDir       string
	EtcdEndpoints []string
	// ID names the process in the controller election; default host:port.
	ID     string
	Logger *slog.Logger
	// NodeLostGrace, StoppedRetention: see controller.Config.
	NodeLostGrace    time.Duration
	StoppedRetention time.Duration
	// NodeTTL is how long a node stays alive without heartbeats (default 15 s).
	NodeTTL time.Duration
	// SessionTTL is the election session ttl in seconds (default 10).
	SessionTTL int
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
	Controller *controller.Controller
	API        *api.Server
	Queues     *queue.Service
	// URL is http://host:port of the listener.
	URL string
	// Bootstrap is set when this start created the cluster's credentials.
	Bootstrap *Credentials

	httpSrv *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	log     *slog.Logger
	// stopCtl ends the controller alone; ctlWG waits for it.
	stopCtl context.CancelFunc
	ctlWG   sync.WaitGroup
}

// Start opens the store, bootstraps credentials on first start, and serves.
func Start(ctx context.Context, o Options) (*Server, error) {
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
	st, err := store.Open(ctx, store.Config{Endpoints: o.EtcdEndpoints, DataDir: o.DataDir, Logger: o.Logger})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{Store: st, log: o.Logger, URL: "http://" + advertise(ln.Addr().String())}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = host + "/" + ln.Addr().String()
	}
	creds, err := bootstrap(ctx, st)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	s.Bootstrap = creds

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Caches = controller.NewCaches(st)
	s.Controller = controller.New(controller.Config{
		Store: st, Caches: s.Caches, ID: o.ID, Logger: o.Logger, NodeLostGrace: o.NodeLostGrace,
		StoppedRetention: o.StoppedRetention, SessionTTL: o.SessionTTL, Metrics: controller.NewMetrics(reg),
	})
	nodes := controller.NewNodes(st, s.Caches)
	if o.NodeTTL > 0 {
		nodes.TTL = o.NodeTTL
	}
	// Queues: one replica owns them (etcd election "queues"); the others
	// forward SQS requests to it, so every replica answers every protocol.
	s.Queues = queue.New(st, queue.Options{AdvertiseURL: s.URL, Logger: o.Logger})
	verifier := awsauth.New(func(ctx context.Context, id string) (string, error) {
		k, err := st.GetAWSKey(ctx, id)
		if err != nil {
			return "", err
		}
		return k.SecretAccessKey, nil
	}, awsauth.Options{})
	awsHandler := sqs.NewHandler(s.Queues, verifier, o.Logger)

	ready := false
	var readyMu sync.Mutex
	s.API = api.New(api.Config{
		TaskDefs:     controller.NewTaskDefs(st),
		Tasks:        controller.NewTasks(st, s.Caches),
		Nodes:        nodes,
		Services:     controller.NewServices(st, s.Caches),
		Source:       s.Caches.Tasks,
		Tokens:       st,
		AWS:          awsHandler,
		IsAWS:        sqs.IsSQSRequest,
		Appliers:     map[string]api.Applier{"Queue": sqs.Applier{Svc: s.Queues}},
		ExtraRoutes:  sqs.NewREST(s.Queues, awsHandler).Routes(),
		ContainerEnv: containerEnv(st),
		Logger:       o.Logger,
		Registry:     reg,
		Ready: func() bool {
			readyMu.Lock()
			defer readyMu.Unlock()
			return ready
		},
		Leader: s.Controller.IsLeader,
	})

	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.Caches.Run(rctx) })
	ctlCtx, stopCtl := context.WithCancel(rctx)
	s.stopCtl = stopCtl
	s.ctlWG.Go(func() { s.Controller.Run(ctlCtx) })
	s.wg.Go(func() { s.Queues.Run(rctx) })
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	err = s.Caches.WaitReady(wctx)
	wcancel()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("server: caches did not fill: %w", err)
	}
	readyMu.Lock()
	ready = true
	readyMu.Unlock()

	s.httpSrv = &http.Server{Handler: s.API.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	s.wg.Go(func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http server stopped", "err", err)
		}
	})
	o.Logger.Info("orch server listening", "url", s.URL, "embeddedEtcd", st.Embedded(), "id", o.ID)
	return s, nil
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

// StopControllers stops the leader-elected controllers (placement,
// services, ...) and waits for them while the API keeps serving, so tasks
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
func bootstrap(ctx context.Context, st *store.Store) (*Credentials, error) {
	creds := &Credentials{
		AdminToken:         api.NewToken("orchadm_"),
		JoinToken:          api.NewToken("orchjoin_"),
		AWSAccessKeyID:     "AKIA" + randomUpper(16),
		AWSSecretAccessKey: randomBase62(40),
	}
	ran, err := st.Bootstrap(ctx, api.NewToken(""), func() error {
		if err := st.PutToken(ctx, creds.AdminToken, store.RoleAdmin, "admin"); err != nil {
			return err
		}
		if err := st.PutToken(ctx, creds.JoinToken, store.RoleAgent, "join"); err != nil {
			return err
		}
		return st.PutAWSKey(ctx, store.AWSKey{AccessKeyID: creds.AWSAccessKeyID, SecretAccessKey: creds.AWSSecretAccessKey, Role: store.RoleAdmin})
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
