package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// SigningKey is the key pair topics sign SNS messages with: created once
// by the first replica that needs it and shared by all, so a verifier
// that fetched the certificate from one replica accepts messages from
// any. It sits under auth/ beside the AWS secret keys, its private key
// sealed like theirs (see Secrets).
type SigningKey struct {
	ID      string `json:"id"`      // names the certificate file (SigningCertURL)
	KeyPEM  string `json:"keyPem"`  // PKCS#8 private key
	CertPEM string `json:"certPem"` // self-signed X.509 certificate
}

// SNSSigningKey returns the stored signing key, creating it with make if
// there is none yet (the first writer wins; everyone reads its key).
func (s *Store) SNSSigningKey(ctx context.Context, make func() (*SigningKey, error)) (*SigningKey, error) {
	key := s.key("auth", "snssigning")
	var k SigningKey
	_, err := s.get(ctx, key, &k)
	if err == nil {
		return s.openSigningKey(&k, key)
	}
	if !errors.Is(err, model.ErrNotFound) {
		return nil, err
	}
	nk, err := make()
	if err != nil {
		return nil, err
	}
	sealed := *nk
	sealed.KeyPEM = s.seal(nk.KeyPEM, key)
	b, _ := json.Marshal(sealed)
	if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(b))).Commit(); err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, key, &k); err != nil {
		return nil, err
	}
	return s.openSigningKey(&k, key)
}

func (s *Store) openSigningKey(k *SigningKey, key string) (*SigningKey, error) {
	pem, err := s.open(k.KeyPEM, key)
	if err != nil {
		return nil, err
	}
	k.KeyPEM = pem
	return k, nil
}
