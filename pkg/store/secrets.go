package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Secrets seals the values the server must keep in clear (SigV4 secret
// keys, the SNS signing key, the cluster CA key) before they reach etcd,
// so reading etcd (a backup, a stolen disk) does not reveal them;
// pkg/pki.Sealer (AES-256-GCM, key file outside etcd) implements it. aad is
// the etcd key the value is stored under: a sealed value copied to another
// key does not open.
type Secrets interface {
	Seal(plaintext, aad string) string
	Open(sealed, aad string) (string, error)
}

// seal and open pass values through unchanged without Secrets (stores
// opened by tools and unit tests); the server always sets it.
func (s *Store) seal(v, key string) string {
	if s.secrets == nil || v == "" {
		return v
	}
	return s.secrets.Seal(v, key)
}

func (s *Store) open(v, key string) (string, error) {
	if s.secrets == nil || v == "" {
		return v, nil
	}
	out, err := s.secrets.Open(v, key)
	if err != nil {
		return "", fmt.Errorf("store: %s: %w", key, err)
	}
	return out, nil
}

// ClusterCAKeys is the cluster CA: the certificate (public) and its
// private key (sealed in etcd).
type ClusterCAKeys struct {
	CertPEM string `json:"certPem"`
	KeyPEM  string `json:"keyPem"`
}

// ClusterCA returns the cluster's CA, creating it with make if there is
// none yet: the first server to start makes it, every replica shares it,
// so agents pinning it trust them all.
func (s *Store) ClusterCA(ctx context.Context, make func() (*ClusterCAKeys, error)) (*ClusterCAKeys, error) {
	key := s.key("auth", "ca")
	read := func() (*ClusterCAKeys, error) {
		var k ClusterCAKeys
		if _, err := s.get(ctx, key, &k); err != nil {
			return nil, err
		}
		pem, err := s.open(k.KeyPEM, key)
		if err != nil {
			return nil, err
		}
		k.KeyPEM = pem
		return &k, nil
	}
	k, err := read()
	if err == nil || !errors.Is(err, model.ErrNotFound) {
		return k, err
	}
	nk, err := make()
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(ClusterCAKeys{CertPEM: nk.CertPEM, KeyPEM: s.seal(nk.KeyPEM, key)})
	if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(b))).Commit(); err != nil {
		return nil, fmt.Errorf("store: save the cluster CA: %w", err)
	}
	return read()
}
