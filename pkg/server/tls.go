package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/pki"
	"github.com/orch-project/orch/pkg/store"
)

// secretsKeyPath is where the key sealing secrets in etcd lives: the
// configured path, else beside the data dir (not in it, so a copy of the
// data dir or an etcd backup does not carry the key that opens it).
func secretsKeyPath(o Config) (string, error) {
	if o.SecretsKey != "" {
		return o.SecretsKey, nil
	}
	if o.DataDir == "" {
		return "", fmt.Errorf("server: no secrets key: pass --secrets-key (the file sealing secrets in etcd) or --data-dir")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(abs), "secrets.key"), nil
}

// openSealer loads the secrets key file (a key ring: several keys during
// a rotation, newest first), creating it with one key on first start.
func openSealer(o Config) (*pki.Sealer, string, error) {
	path, err := secretsKeyPath(o)
	if err != nil {
		return nil, "", err
	}
	keys, created, err := pki.LoadOrCreateKeyRing(path)
	if err != nil {
		return nil, "", fmt.Errorf("server: %w", err)
	}
	if created {
		o.Logger.Info("created the secrets key; secrets in etcd are sealed with it: back it up apart from etcd, and give every server of the cluster the same file", "path", path)
	}
	s, err := pki.NewKeyRing(keys)
	return s, path, err
}

// clusterCA loads the cluster CA from the store, creating it on the
// cluster's first start.
func clusterCA(ctx context.Context, st *store.Store) (*pki.CA, error) {
	k, err := st.ClusterCA(ctx, func() (*store.ClusterCAKeys, error) {
		ca, err := pki.NewCA("orch cluster CA")
		if err != nil {
			return nil, err
		}
		return &store.ClusterCAKeys{CertPEM: string(ca.CertPEM), KeyPEM: string(ca.KeyPEM)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("server: the cluster CA: %w", err)
	}
	return pki.LoadCA([]byte(k.CertPEM), []byte(k.KeyPEM))
}

// servingTLS issues this server's certificate for every name clients may
// use: the listen host, loopback, host.docker.internal (task containers on
// this host), the host name, every interface address (the Docker bridge
// gateway among them) and extra names from --tls-san.
//
// The certificate is renewed on a long-running server: once 2/3 of its
// lifetime has passed (8 months of a year), the next handshake issues a
// new one from the cluster CA and every later handshake presents it
// (tls.Config.GetCertificate), so a server up longer than a year keeps
// serving TLS. validity 0 is pki.DefaultServerValidity.
func servingTLS(ca *pki.CA, listenAddr string, extra []string, validity time.Duration) (*tls.Config, error) {
	hosts := []string{"localhost", "127.0.0.1", "::1", "host.docker.internal"}
	if h, _, err := net.SplitHostPort(listenAddr); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsUnspecified() {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	hosts = append(hosts, extra...)
	rc, err := newRenewingCert(func() (tls.Certificate, error) { return ca.IssueServer(hosts, validity) }, time.Now)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return rc.get(), nil },
		MinVersion:     tls.VersionTLS12,
		// The same certificate is this server's client certificate when it
		// reaches an agent's log port (logCallbackTLS).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return rc.get(), nil },
	}, nil
}

// renewingCert is a certificate that issues itself anew once 2/3 of its
// lifetime (from issue to NotAfter) has passed. Renewal happens on the
// handshake that finds it due (one issue, under a lock; the others keep
// presenting the current certificate meanwhile); a failed renewal keeps
// the current certificate and is tried again on a later handshake.
type renewingCert struct {
	issue func() (tls.Certificate, error)
	now   func() time.Time
	cur   atomic.Pointer[tls.Certificate]
	due   atomic.Int64 // unix nanoseconds at which cur is renewed
	mu    sync.Mutex   // one renewal at a time
}

func newRenewingCert(issue func() (tls.Certificate, error), now func() time.Time) (*renewingCert, error) {
	r := &renewingCert{issue: issue, now: now}
	if err := r.renew(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *renewingCert) renew() error {
	issued := r.now()
	c, err := r.issue()
	if err != nil {
		return err
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return err
		}
	}
	r.cur.Store(&c)
	r.due.Store(issued.Add(c.Leaf.NotAfter.Sub(issued) * 2 / 3).UnixNano())
	return nil
}

// get returns the current certificate, renewing it first when due.
func (r *renewingCert) get() *tls.Certificate {
	if r.now().UnixNano() < r.due.Load() {
		return r.cur.Load()
	}
	if r.mu.TryLock() {
		defer r.mu.Unlock()
		if r.now().UnixNano() >= r.due.Load() {
			_ = r.renew() // on failure the current one stays until its NotAfter; retried next handshake
		}
	}
	return r.cur.Load()
}

// logCallbackTLS is the server side of the log callback in a TLS cluster
// (both nil with plain HTTP): issue each registering node a certificate
// for its serving key, and reach a node's agent presenting this server's
// certificate and accepting only the certificate issued to that node.
func logCallbackTLS(ca *pki.CA, serving *tls.Config, validity time.Duration) (issue func(name, servingKey string) (string, error), agentTLS func(node string) *tls.Config) {
	if ca == nil || serving == nil {
		return nil, nil
	}
	issue = func(name, servingKey string) (string, error) {
		b, err := ca.IssueNode(name, servingKey, validity)
		return string(b), err
	}
	agentTLS = func(node string) *tls.Config {
		c := pki.NodeClientTLS(ca.Cert, tls.Certificate{}, node)
		// This server's (renewed) serving certificate, not a copy made once.
		c.Certificates, c.GetClientCertificate = nil, serving.GetClientCertificate
		return c
	}
	return issue, agentTLS
}
