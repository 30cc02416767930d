package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"

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

func openSealer(o Config) (*pki.Sealer, error) {
	path, err := secretsKeyPath(o)
	if err != nil {
		return nil, err
	}
	key, created, err := pki.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if created {
		o.Logger.Info("created the secrets key; secrets in etcd are sealed with it: back it up apart from etcd, and give every server of the cluster the same file", "path", path)
	}
	return pki.NewSealer(key)
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
func servingTLS(ca *pki.CA, listenAddr string, extra []string) (*tls.Config, error) {
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
	cert, err := ca.IssueServer(hosts, 0)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// logCallbackTLS is the server side of the log callback in a TLS cluster
// (both nil with plain HTTP): issue each registering node a certificate
// for its serving key, and reach a node's agent presenting this server's
// certificate and accepting only the certificate issued to that node.
func logCallbackTLS(ca *pki.CA, serving *tls.Config) (issue func(name, servingKey string) (string, error), agentTLS func(node string) *tls.Config) {
	if ca == nil || serving == nil {
		return nil, nil
	}
	issue = func(name, servingKey string) (string, error) {
		b, err := ca.IssueNode(name, servingKey, 0)
		return string(b), err
	}
	cert := serving.Certificates[0]
	agentTLS = func(node string) *tls.Config { return pki.NodeClientTLS(ca.Cert, cert, node) }
	return issue, agentTLS
}
