package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	// ServeUntilMs is when a retired key's certificate stops being
	// served (0 for the current key).
	ServeUntilMs int64 `json:"serveUntilMs,omitempty"`
}

// SigningKeys are the current signing key and the retired ones whose
// certificates are still served for messages signed before a rotation.
type SigningKeys struct {
	Current SigningKey   `json:"current"`
	Retired []SigningKey `json:"retired,omitempty"`
}

func (s *Store) signingKeysKey() string { return s.key("auth", "snssigning") }

// loadSigningKeys reads the stored signing keys and their mod revision
// (0 when there are none). It and storeSigningKeys are the only code
// that reads or writes the key material, so wrapping them (encryption at
// rest) covers every use.
func (s *Store) loadSigningKeys(ctx context.Context) (*SigningKeys, int64, error) {
	key := s.signingKeysKey()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("store: read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	raw := resp.Kvs[0].Value
	var ks SigningKeys
	if err := json.Unmarshal(raw, &ks); err != nil {
		return nil, 0, fmt.Errorf("store: decode %s: %w", key, err)
	}
	if ks.Current.ID == "" {
		// Written by a version without rotation: one bare SigningKey.
		if err := json.Unmarshal(raw, &ks.Current); err != nil || ks.Current.ID == "" {
			return nil, 0, fmt.Errorf("store: decode %s: no signing key in it", key)
		}
	}
	// The private keys are sealed at rest (Secrets); certificates are public.
	if ks.Current.KeyPEM, err = s.open(ks.Current.KeyPEM, key); err != nil {
		return nil, 0, err
	}
	for i := range ks.Retired {
		if ks.Retired[i].KeyPEM, err = s.open(ks.Retired[i].KeyPEM, key); err != nil {
			return nil, 0, err
		}
	}
	return &ks, resp.Kvs[0].ModRevision, nil
}

// storeSigningKeys writes ks if the stored keys are still at rev (0: there
// are none); false when another writer came first.
func (s *Store) storeSigningKeys(ctx context.Context, ks *SigningKeys, rev int64) (bool, error) {
	key := s.signingKeysKey()
	sealed := SigningKeys{Current: ks.Current, Retired: make([]SigningKey, len(ks.Retired))}
	sealed.Current.KeyPEM = s.seal(ks.Current.KeyPEM, key)
	for i, r := range ks.Retired {
		r.KeyPEM = s.seal(r.KeyPEM, key)
		sealed.Retired[i] = r
	}
	b, err := json.Marshal(sealed)
	if err != nil {
		return false, err
	}
	cmp := clientv3.Compare(clientv3.ModRevision(key), "=", rev)
	if rev == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	tr, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return false, fmt.Errorf("store: write %s: %w", key, err)
	}
	return tr.Succeeded, nil
}

// SNSSigningKeys returns the stored signing keys, creating the first key
// with make if there is none yet (the first writer wins; everyone reads
// its key).
func (s *Store) SNSSigningKeys(ctx context.Context, make func() (*SigningKey, error)) (*SigningKeys, error) {
	for {
		ks, rev, err := s.loadSigningKeys(ctx)
		if err != nil || ks != nil {
			return ks, err
		}
		nk, err := make()
		if err != nil {
			return nil, err
		}
		if _, err := s.storeSigningKeys(ctx, &SigningKeys{Current: *nk}, rev); err != nil {
			return nil, err
		}
	}
}

// RotateSNSSigningKey makes next the current signing key. The previous
// one is retired: its certificate stays served until serveUntilMs.
// Retired keys past their time (at nowMs) are dropped.
func (s *Store) RotateSNSSigningKey(ctx context.Context, next *SigningKey, nowMs, serveUntilMs int64) (*SigningKeys, error) {
	for {
		ks, rev, err := s.loadSigningKeys(ctx)
		if err != nil {
			return nil, err
		}
		if ks == nil {
			return nil, errors.Join(model.ErrNotFound, errors.New("store: no signing key to rotate yet"))
		}
		out := &SigningKeys{Current: *next}
		old := ks.Current
		old.ServeUntilMs = serveUntilMs
		out.Retired = append(out.Retired, old)
		for _, r := range ks.Retired {
			if r.ServeUntilMs > nowMs {
				out.Retired = append(out.Retired, r)
			}
		}
		ok, err := s.storeSigningKeys(ctx, out, rev)
		if err != nil {
			return nil, err
		}
		if ok {
			return out, nil
		}
	}
}
