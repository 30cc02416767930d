// Command orch-queue-dev runs Orch's queue service alone: an embedded (or
// external) etcd, the queue service and the SQS endpoint, with SigV4
// verification against one access key. It exists for load tests and
// protocol conformance runs against a real server process; `orch server`
// hosts the same components in production.
//
//	orch-queue-dev --listen 127.0.0.1:9324 --data-dir /tmp/q \
//	    --access-key AKIDORCHDEV --secret-key devsecret
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/api/sqs"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9324", "address to serve SQS on")
	dataDir := flag.String("data-dir", "", "directory of the embedded etcd (required unless --etcd-endpoints)")
	endpoints := flag.String("etcd-endpoints", "", "external etcd endpoints, comma separated")
	prefix := flag.String("prefix", "/orch/", "etcd key prefix")
	advertise := flag.String("advertise", "", "URL other replicas reach this one at (default http://LISTEN)")
	ak := flag.String("access-key", "AKIDORCHDEV", "access key id clients sign with")
	sk := flag.String("secret-key", "orch-dev-secret", "its secret")
	noAuth := flag.Bool("no-auth", false, "accept unsigned requests")
	verbose := flag.Bool("v", false, "debug logging")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	queueStore := flag.String("queue-store", "", "where messages are kept: local (segment logs in --data-dir/queues; default with the embedded etcd) or etcd (default and only choice with --etcd-endpoints)")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go http.ListenAndServe(*pprofAddr, mux)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *listen, *dataDir, *endpoints, *prefix, *advertise, *ak, *sk, *noAuth, *queueStore); err != nil {
		fmt.Fprintln(os.Stderr, "orch-queue-dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, listen, dataDir, endpoints, prefix, advertise, ak, sk string, noAuth bool, queueStore string) error {
	var logDir string
	switch {
	case queueStore == "etcd":
	case queueStore != "" && queueStore != "local":
		return fmt.Errorf("--queue-store %q: want local or etcd", queueStore)
	case endpoints != "":
		if queueStore == "local" {
			return errors.New("--queue-store local needs the embedded etcd (a single server); drop it with --etcd-endpoints")
		}
	default:
		logDir = filepath.Join(dataDir, "queues")
	}
	cfg := store.Config{DataDir: dataDir, Prefix: prefix, Logger: log}
	if endpoints != "" {
		cfg.Endpoints = strings.Split(endpoints, ",")
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.PutAWSKey(ctx, store.AWSKey{AccessKeyID: ak, SecretAccessKey: sk, Role: auth.RoleAdmin}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if advertise == "" {
		advertise = "http://" + ln.Addr().String()
	}
	broker := queue.New(st, queue.Options{AdvertiseURL: advertise, Logger: log, LogDir: logDir})
	brokerCtx, stopBroker := context.WithCancel(ctx)
	brokerDone := make(chan struct{})
	go func() { broker.Run(brokerCtx); close(brokerDone) }()
	// Stop the broker and wait for it before the store closes.
	defer func() { stopBroker(); <-brokerDone }()
	var verify awsauth.Verifier
	if !noAuth {
		verify = awsauth.New(func(ctx context.Context, id string) (string, error) {
			k, err := st.GetAWSKey(ctx, id)
			if err != nil {
				return "", err
			}
			return k.SecretAccessKey, nil
		}, awsauth.Options{}).For("sqs")
	}
	h := sqs.NewHandler(broker, verify, log)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !broker.Owned() {
			http.Error(w, "not owner (yet)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if sqs.IsSQSRequest(r) {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "not an SQS request", http.StatusNotFound)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("serving SQS", "listen", ln.Addr().String(), "accessKey", ak)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
