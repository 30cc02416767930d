package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/pki"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Config says where etcd is.
type Config struct {
	// Endpoints of an external etcd cluster. Empty: run an embedded
	// single-node etcd in DataDir.
	Endpoints []string
	// DataDir holds the embedded etcd's data (DataDir/etcd).
	DataDir string
	// Prefix for every key; default "/orch/".
	Prefix string
	// QuotaBytes of the embedded etcd backend; default 8 GiB.
	QuotaBytes int64
	// Logger for store messages.
	Logger *slog.Logger
	// Secrets seals secret values at rest (nil: stored as they are).
	Secrets Secrets
	// TLS for an external etcd: the CA file that signed its certificates
	// and this client's certificate and key (client-certificate auth).
	TLS *EtcdTLS
}

// EtcdTLS are the files for client-certificate TLS to an external etcd.
type EtcdTLS struct {
	CAFile, CertFile, KeyFile string
}

// clientConfig is nil (plain) without files.
func (t *EtcdTLS) clientConfig() (*tls.Config, error) {
	if t == nil || (t.CAFile == "" && t.CertFile == "" && t.KeyFile == "") {
		return nil, nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("store: --etcd-cert and --etcd-key go together (the client certificate and its key)")
	}
	info := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("store: etcd client TLS (--etcd-cacert %q, --etcd-cert %q, --etcd-key %q): %w", t.CAFile, t.CertFile, t.KeyFile, err)
	}
	return c, nil
}

// Store is typed access to Orch's state in etcd.
type Store struct {
	cli      *clientv3.Client
	embedded *embed.Etcd
	prefix   string
	log      *slog.Logger
	secrets  Secrets
	// maxBatch is how many objects one transaction may write: an external
	// etcd keeps its default of 128 operations per txn, the embedded one is
	// raised so placement commits can be larger.
	maxBatch int
	// staleChecked: elections whose stale keys of our own id were revoked (Campaign).
	staleChecked sync.Map
	// stopCompact ends the embedded etcd's compactLoop; compactDone
	// is closed when it has returned.
	stopCompact, compactDone chan struct{}
}

// Open connects to an external etcd or starts the embedded one.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/orch/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{prefix: cfg.Prefix, log: cfg.Logger, secrets: cfg.Secrets}
	if len(cfg.Endpoints) > 0 {
		tlsCfg, err := cfg.TLS.clientConfig()
		if err != nil {
			return nil, err
		}
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:          cfg.Endpoints,
			DialTimeout:        5 * time.Second,
			MaxCallSendMsgSize: 16 << 20,
			MaxCallRecvMsgSize: 256 << 20,
			Logger:             zap.NewNop(),
			TLS:                tlsCfg,
		})
		if err != nil {
			return nil, fmt.Errorf("store: connect to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
		}
		if err := anyAnswers(ctx, cli, cfg.Endpoints); err != nil {
			cli.Close()
			return nil, err
		}
		cli.KV = timeoutReads{cli.KV}
		s.cli, s.maxBatch = cli, 120
		return s, nil
	}
	if err := s.startEmbedded(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) startEmbedded(cfg Config) error {
	if cfg.DataDir == "" {
		return errors.New("store: a data directory is needed for the embedded etcd (or pass etcd endpoints)")
	}
	dir := filepath.Join(cfg.DataDir, "etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: create %s: %w", dir, err)
	}
	ec := embed.NewConfig()
	ec.Name = "orch"
	ec.Dir = dir
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// etcd's own compactor is off: compactLoop (compact.go) keeps a
	// minute of history and defragments. The quota is sized for real use
	// rather than etcd's 2 GiB default.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0"
	// Three 64 MB WAL files instead of etcd's five: a file is only purged
	// once a snapshot covers it, so this bounds the data dir, not what is
	// durable.
	ec.MaxWalFiles = 3
	// etcd keeps the raft entries since its last snapshot, plus 5,000 for
	// followers to catch up, in memory: SnapshotCount (10,000) committed
	// transactions. The queue's group commit makes each transaction carry
	// all concurrent requests (tens of KiB at 10-message batches), so that
	// was up to a few hundred MiB of heap. A snapshot of this etcd is cheap
	// (its data is already in bbolt; the snapshot records the applied
	// index and lets raft drop older entries), and a single member has no
	// follower to catch up.
	ec.SnapshotCount = 2000
	ec.SnapshotCatchUpEntries = 500
	ec.QuotaBackendBytes = cfg.QuotaBytes
	if ec.QuotaBackendBytes == 0 {
		ec.QuotaBackendBytes = 8 << 30
	}
	ec.MaxTxnOps = 4096
	ec.MaxRequestBytes = 32 << 20
	// The embedded etcd is reached in-process, but etcd needs listeners:
	// the client one is a unix socket in the 0700 data dir, and the peer
	// one (etcd cannot put it on a unix path) is loopback TCP that
	// requires a client certificate from a throwaway CA whose files sit in
	// that dir. No local user can reach either (loopback TCP without auth
	// let any local user read and write every key, secrets and tokens
	// included).
	cpath, err := socketPath(dir)
	if err != nil {
		return err
	}
	cu := url.URL{Scheme: "unix", Host: cpath}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	pu, err := peerTLS(ec, dir)
	if err != nil {
		return err
	}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return fmt.Errorf("store: start embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return fmt.Errorf("store: embedded etcd in %s did not become ready in 60s", dir)
	}
	s.embedded = e
	s.cli = v3client.New(e.Server)
	s.cli.KV = timeoutReads{s.cli.KV}
	s.maxBatch = 1000
	s.stopCompact, s.compactDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.compactDone)
		s.compactLoop(s.stopCompact)
	}()
	return nil
}

// socketPath is the embedded etcd's client socket in dir (a 0700
// directory). A unix socket path is limited to about 100 bytes; a deeper
// data dir gets its socket in a fresh 0700 directory under the temp dir.
func socketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if len(abs)+len("/client.sock") > 100 {
		if abs, err = os.MkdirTemp("", "orch-etcd-"); err != nil {
			return "", fmt.Errorf("store: a directory for the embedded etcd's socket: %w", err)
		}
	}
	return filepath.Join(abs, "client.sock"), nil
}

// peerTLS makes the embedded etcd's peer listener (loopback, a free port)
// require client certificates of a CA made for this start, its files in
// dir with mode 0600.
func peerTLS(ec *embed.Config, dir string) (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("store: find a free port for the embedded etcd: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	ca, err := pki.NewCA("orch embedded etcd peer")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssuePeer("orch", []string{"127.0.0.1"}, 0)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"peer-ca.pem": ca.CertPEM, "peer.pem": certPEM, "peer-key.pem": keyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("store: write the embedded etcd's peer certificate: %w", err)
		}
	}
	ec.PeerTLSInfo = transport.TLSInfo{
		CertFile: filepath.Join(dir, "peer.pem"), KeyFile: filepath.Join(dir, "peer-key.pem"),
		TrustedCAFile: filepath.Join(dir, "peer-ca.pem"), ClientCertAuth: true,
	}
	return &url.URL{Scheme: "https", Host: addr}, nil
}

// Close disconnects and stops the embedded etcd, if any.
func (s *Store) Close() error {
	if s.stopCompact != nil {
		close(s.stopCompact)
		<-s.compactDone
		s.stopCompact = nil
	}
	err := s.cli.Close()
	if errors.Is(err, context.Canceled) {
		err = nil // the in-process client reports its own shutdown this way
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	return err
}

// Endpoints are the etcd client URLs the store talks to (the embedded
// etcd's own when it runs one).
func (s *Store) Endpoints() []string {
	if s.embedded != nil {
		var out []string
		for _, u := range s.embedded.Config().ListenClientUrls {
			if u.Scheme == "unix" {
				out = append(out, "unix://"+u.Host) // a path: u.String() would escape it
				continue
			}
			out = append(out, u.String())
		}
		return out
	}
	return s.cli.Endpoints()
}

// Embedded reports whether the store runs its own etcd.
func (s *Store) Embedded() bool { return s.embedded != nil }

// MaxBatch is how many objects one transaction writes at most.
func (s *Store) MaxBatch() int { return s.maxBatch }

// Ping checks etcd answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.cli.Get(ctx, s.prefix+"meta/cluster")
	return err
}

func (s *Store) key(parts ...string) string { return s.prefix + strings.Join(parts, "/") }

// anyAnswers checks that at least one of the endpoints answers: a server
// started while one member of a 3-member cluster is down must start (the
// client fails over between members), as it keeps running when one dies.
// A refused connection fails at once; a hung member costs its timeout.
func anyAnswers(ctx context.Context, cli *clientv3.Client, endpoints []string) error {
	per := 10 * time.Second
	if len(endpoints) > 1 {
		per = 5 * time.Second
	}
	var errs []string
	var last error
	for _, ep := range endpoints {
		sctx, cancel := context.WithTimeout(ctx, per)
		_, err := cli.Status(sctx, ep)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		errs = append(errs, fmt.Sprintf("%s: %v", ep, err))
	}
	if len(endpoints) == 1 {
		return fmt.Errorf("store: etcd at %s is not answering: %w (check --etcd-endpoints and that etcd is running)", endpoints[0], last)
	}
	return fmt.Errorf("store: no etcd member answers (%s): %w (check --etcd-endpoints and that etcd is running)", strings.Join(errs, "; "), last)
}
