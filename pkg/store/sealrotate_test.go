package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/pki"
	"github.com/orch-project/orch/pkg/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Rotating the secrets key online: values sealed with the old key are
// re-sealed with the new one in place (a task credential keeps its lease),
// every one still opens, and afterwards a ring without the old key opens
// them all. A ring lacking a key some value needs stops the pass with an
// error naming that key.
func TestResealSecretsWithTheNewestKey(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	id1, id2 := pki.KeyID(k1), pki.KeyID(k2)
	ring, err := pki.NewKeyRing([][]byte{k1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{DataDir: dir, Secrets: ring})
	if err != nil {
		t.Fatal(err)
	}
	const secret, tmpSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "tmpSecretForATaskCredential0000000000000"
	if err := st.PutAWSKey(ctx, store.AWSKey{AccessKeyID: "AKIATEST", SecretAccessKey: secret, Role: auth.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTemporaryAWSKey(ctx, store.AWSKey{AccessKeyID: "ASIATEST", SecretAccessKey: tmpSecret, Expiration: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SNSSigningKeys(ctx, func() (*store.SigningKey, error) {
		return &store.SigningKey{ID: "s1", KeyPEM: "signing-key-pem", CertPEM: "cert"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClusterCA(ctx, func() (*store.ClusterCAKeys, error) {
		return &store.ClusterCAKeys{CertPEM: "ca-cert", KeyPEM: "ca-key-pem"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rk, err := st.ReplicaKey(ctx)
	if err != nil || len(rk) != 32 {
		t.Fatalf("replica key: %d bytes, %v", len(rk), err)
	}
	counts, err := st.SealedValueCounts(ctx)
	if err != nil || counts[id1] != 5 || len(counts) != 1 {
		t.Fatalf("sealed values before: %v %v, want 5 under %s", counts, err, id1)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: st.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	leaseOf := func() int64 {
		r, err := raw.Get(ctx, "/orch/auth/awskeys/ASIATEST")
		if err != nil || len(r.Kvs) != 1 {
			t.Fatalf("task key: %v", err)
		}
		return r.Kvs[0].Lease
	}
	lease := leaseOf()
	if lease == 0 {
		t.Fatal("the task key has no lease")
	}

	// The new key heads the ring; the rotation seals with it.
	if err := ring.SetKeys([][]byte{k2, k1}); err != nil {
		t.Fatal(err)
	}
	if err := ring.UseForSealing(id2); err != nil {
		t.Fatal(err)
	}
	rep, err := st.ResealSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SealingKey != id2 || rep.Resealed != 5 || rep.ValuesByKey[id2] != 5 || rep.ValuesByKey[id1] != 0 {
		t.Fatalf("reseal report %+v, want 5 values now under %s", rep, id2)
	}
	if leaseOf() != lease {
		t.Fatal("re-sealing dropped the task credential's lease")
	}
	again, err := st.ResealSecrets(ctx)
	if err != nil || again.Resealed != 0 {
		t.Fatalf("a second pass: %+v %v, want nothing to do", again, err)
	}

	// Only the new key now: everything opens.
	raw.Close()
	st.Close()
	only2, _ := pki.NewKeyRing([][]byte{k2})
	st2, err := store.Open(ctx, store.Config{DataDir: dir, Secrets: only2})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := st2.GetAWSKey(ctx, "AKIATEST"); err != nil || k.SecretAccessKey != secret {
		t.Fatalf("admin key with the new key alone: %+v %v", k, err)
	}
	if k, err := st2.GetAWSKey(ctx, "ASIATEST"); err != nil || k.SecretAccessKey != tmpSecret {
		t.Fatalf("task key with the new key alone: %+v %v", k, err)
	}
	if ks, err := st2.SNSSigningKeys(ctx, nil); err != nil || ks.Current.KeyPEM != "signing-key-pem" {
		t.Fatalf("signing key: %+v %v", ks, err)
	}
	if ca, err := st2.ClusterCA(ctx, nil); err != nil || ca.KeyPEM != "ca-key-pem" {
		t.Fatalf("CA: %+v %v", ca, err)
	}
	if rk2, err := st2.ReplicaKey(ctx); err != nil || !bytes.Equal(rk, rk2) {
		t.Fatalf("the replica key changed across the rotation: %v", err)
	}

	// A store with the old key alone cannot open them, says which key it
	// lacks, and a rotation through it stops with that error.
	st2.Close()
	only1, _ := pki.NewKeyRing([][]byte{k1})
	st3, err := store.Open(ctx, store.Config{DataDir: dir, Secrets: only1})
	if err != nil {
		t.Fatal(err)
	}
	defer st3.Close()
	if _, err := st3.GetAWSKey(ctx, "AKIATEST"); !errors.Is(err, pki.ErrWrongKey) || !strings.Contains(err.Error(), id2) {
		t.Fatalf("reading with the old key alone: %v, want ErrWrongKey naming %s", err, id2)
	}
	if _, err := st3.ResealSecrets(ctx); !errors.Is(err, pki.ErrWrongKey) || !strings.Contains(err.Error(), id2) {
		t.Fatalf("re-sealing with the old key alone: %v, want ErrWrongKey naming %s", err, id2)
	}
}
