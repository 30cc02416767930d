package pki_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/pki"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// A ring opens what each of its keys sealed, seals with the sealing key,
// and a value sealed with a key it lacks fails naming that key and what
// to do, never the key itself.
func TestKeyRingOpensEveryKeyAndSealsWithOne(t *testing.T) {
	old, err := pki.NewSealer(key(1))
	if err != nil {
		t.Fatal(err)
	}
	v1 := old.Seal("s1", "/orch/auth/ca")
	ring, err := pki.NewKeyRing([][]byte{key(2), key(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ring.Open(v1, "/orch/auth/ca"); err != nil || got != "s1" {
		t.Fatalf("ring opening the old key's value: %q %v", got, err)
	}
	if ring.ID() != pki.KeyID(key(2)) {
		t.Fatalf("sealing key %s, want the newest %s", ring.ID(), pki.KeyID(key(2)))
	}
	v2 := ring.Seal("s2", "k")
	if id, ok := pki.SealedKeyID(v2); !ok || id != pki.KeyID(key(2)) {
		t.Fatalf("new value sealed with %q", id)
	}
	// Back to the old key for sealing (not every server holds the new one).
	if err := ring.UseForSealing(pki.KeyID(key(1))); err != nil {
		t.Fatal(err)
	}
	if id, _ := pki.SealedKeyID(ring.Seal("x", "k")); id != pki.KeyID(key(1)) {
		t.Fatalf("after UseForSealing(old): sealed with %s", id)
	}
	if err := ring.UseForSealing("deadbeef"); err == nil {
		t.Fatal("UseForSealing accepted a key the ring lacks")
	}
	// A new ring keeps the sealing key while it still holds it ...
	if err := ring.SetKeys([][]byte{key(3), key(2), key(1)}); err != nil {
		t.Fatal(err)
	}
	if ring.ID() != pki.KeyID(key(1)) {
		t.Fatalf("SetKeys changed the sealing key to %s", ring.ID())
	}
	// ... and seals with its newest once it does not.
	if err := ring.SetKeys([][]byte{key(3), key(2)}); err != nil {
		t.Fatal(err)
	}
	if ring.ID() != pki.KeyID(key(3)) {
		t.Fatalf("sealing key %s after the old one left, want %s", ring.ID(), pki.KeyID(key(3)))
	}
	_, err = ring.Open(v1, "/orch/auth/ca")
	if !errors.Is(err, pki.ErrWrongKey) || !strings.Contains(err.Error(), pki.KeyID(key(1))) || !strings.Contains(err.Error(), "--secrets-key") {
		t.Fatalf("opening a value of a removed key: %v, want ErrWrongKey naming key %s and --secrets-key", err, pki.KeyID(key(1)))
	}
	if strings.Contains(err.Error(), "0101") || strings.Contains(err.Error(), "0303") {
		t.Fatalf("the error shows key material: %v", err)
	}
	if err := ring.SetKeys([][]byte{key(3), key(3)}); err == nil {
		t.Fatal("a ring with one key twice was accepted")
	}
	if err := ring.SetKeys(nil); err == nil {
		t.Fatal("an empty ring was accepted")
	}
}

// The key file: the single-key file of earlier versions still reads; add
// puts a key first, remove takes an old one out but never the newest or
// the last; comments and blank lines are skipped; bad lines are named.
func TestKeyFileRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	k1, created, err := pki.LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	id1 := pki.KeyID(k1)
	id2, err := pki.AddKey(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pki.ReadKeyRing(path)
	if err != nil || len(keys) != 2 || pki.KeyID(keys[0]) != id2 || pki.KeyID(keys[1]) != id1 {
		t.Fatalf("after add: %d keys %v, want [%s %s]", len(keys), err, id2, id1)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after add %v, want 0600", fi.Mode().Perm())
	}
	if err := pki.RemoveKey(path, id2); err == nil || !strings.Contains(err.Error(), "newest") {
		t.Fatalf("removing the newest key: %v, want a refusal", err)
	}
	if err := pki.RemoveKey(path, "00000000"); err == nil || !strings.Contains(err.Error(), id1) {
		t.Fatalf("removing an unknown key: %v, want an error listing the keys", err)
	}
	if err := pki.RemoveKey(path, id1); err != nil {
		t.Fatal(err)
	}
	keys, _ = pki.ReadKeyRing(path)
	if len(keys) != 1 || pki.KeyID(keys[0]) != id2 {
		t.Fatalf("after remove: %d keys", len(keys))
	}
	if err := pki.RemoveKey(path, id2); err == nil {
		t.Fatal("removed the last key")
	}

	b, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("# rotated 2026-12-01\n\n"), b...), 0o600)
	if keys, err := pki.ReadKeyRing(path); err != nil || len(keys) != 1 {
		t.Fatalf("comments: %d %v", len(keys), err)
	}
	os.WriteFile(path, append(b, []byte("not-a-key\n")...), 0o600)
	if _, err := pki.ReadKeyRing(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a bad line: %v, want an error naming line 2", err)
	}
	os.WriteFile(path, append(b, b...), 0o600)
	if _, err := pki.ReadKeyRing(path); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a key twice: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := pki.ReadKeyRing(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable file: %v", err)
	}
}
