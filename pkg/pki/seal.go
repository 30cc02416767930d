package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Sealer encrypts the secrets a server keeps in clear (SigV4 secret keys,
// the SNS signing key, the CA key) with AES-256-GCM under a key kept in a
// file outside etcd, so a copy of etcd (a backup, a local user reading the
// database) does not reveal them.
//
// It holds a key ring, as Kubernetes' EncryptionConfiguration and Vault's
// keyring do: every sealed value names the key that sealed it, every key
// of the ring opens the values sealed with it, and one of them (the
// sealing key) seals new values. Rotation adds a key, makes it the sealing
// key once every server holds it, re-seals what etcd keeps, then drops
// the old key. The ring can change while the server runs (SetKeys,
// UseForSealing); Seal and Open read it without locks.
type Sealer struct {
	ring atomic.Pointer[keyRing]
}

// keyRing is one immutable state of a Sealer: replaced whole on change.
type keyRing struct {
	keys    []*sealKey // as in the key file: newest first
	byID    map[string]*sealKey
	sealing *sealKey
}

type sealKey struct {
	id   string
	aead cipher.AEAD
	key  []byte
}

// sealedPrefix marks a sealed value; the key id follows, so a replica
// without that key says which one it lacks instead of failing obscurely.
const sealedPrefix = "orchsealed:v1:"

// ErrWrongKey: a value was sealed with a key this server does not hold.
var ErrWrongKey = errors.New("pki: secret sealed with a key this server does not hold")

// KeyID names a 32-byte key (not secret: a hash prefix), as sealed values
// and errors show it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("orch-key-id:"), key...))
	return hex.EncodeToString(sum[:4])
}

func newSealKey(key []byte) (*sealKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("pki: a secrets key is 32 bytes, got %d", len(key))
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &sealKey{aead: aead, id: KeyID(key), key: append([]byte(nil), key...)}, nil
}

// NewSealer uses one 32-byte key.
func NewSealer(key []byte) (*Sealer, error) { return NewKeyRing([][]byte{key}) }

// NewKeyRing uses several keys, newest first; the newest seals.
func NewKeyRing(keys [][]byte) (*Sealer, error) {
	s := &Sealer{}
	if err := s.SetKeys(keys); err != nil {
		return nil, err
	}
	return s, nil
}

// SetKeys replaces the ring (newest first). The sealing key stays the
// same while the new ring still holds it (a new key seals only once
// UseForSealing says every server has it); otherwise the newest seals.
func (s *Sealer) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("pki: a key ring needs at least one key")
	}
	r := &keyRing{byID: map[string]*sealKey{}}
	for _, k := range keys {
		sk, err := newSealKey(k)
		if err != nil {
			return err
		}
		if r.byID[sk.id] != nil {
			return fmt.Errorf("pki: key %s is in the ring twice", sk.id)
		}
		r.keys = append(r.keys, sk)
		r.byID[sk.id] = sk
	}
	r.sealing = r.keys[0]
	if old := s.ring.Load(); old != nil && r.byID[old.sealing.id] != nil {
		r.sealing = r.byID[old.sealing.id]
	}
	s.ring.Store(r)
	return nil
}

// UseForSealing makes key id (one of the ring's) seal new values.
func (s *Sealer) UseForSealing(id string) error {
	old := s.ring.Load()
	k := old.byID[id]
	if k == nil {
		return fmt.Errorf("pki: key %s is not in this server's key ring (%s)", id, strings.Join(s.IDs(), ", "))
	}
	r := *old
	r.sealing = k
	s.ring.Store(&r)
	return nil
}

// IDs lists the ring's key ids, newest first.
func (s *Sealer) IDs() []string {
	r := s.ring.Load()
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// ID names the key that seals new values (not secret: a hash prefix).
func (s *Sealer) ID() string { return s.ring.Load().sealing.id }

// SealingKeyID is ID, under the name store's key-ring interface uses.
func (s *Sealer) SealingKeyID() string { return s.ID() }

// Seal encrypts plaintext with the sealing key; aad binds it to where it
// is stored (its etcd key), so a sealed value moved to another key does
// not open.
func (s *Sealer) Seal(plaintext, aad string) string {
	k := s.ring.Load().sealing
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return sealedPrefix + k.id + ":" + base64.StdEncoding.EncodeToString(ct)
}

// Sealed reports whether v is a sealed value.
func Sealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

// SealedKeyID returns the id of the key that sealed v (false: v is not a
// sealed value).
func SealedKeyID(v string) (string, bool) {
	rest, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ":")
	return id, ok
}

// Open decrypts a value Seal made with the same aad, with whichever key of
// the ring sealed it. A value that is not sealed (written before sealing
// existed) is returned as is.
func (s *Sealer) Open(v, aad string) (string, error) {
	rest, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return v, nil
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("pki: malformed sealed value")
	}
	r := s.ring.Load()
	k := r.byID[id]
	if k == nil {
		ids := make([]string, len(r.keys))
		for i, k := range r.keys {
			ids[i] = k.id
		}
		return "", fmt.Errorf("%w: it was sealed with key %s and this server's secrets key file holds %s: add key %s to this server's file (copy the file from a server that has it; servers re-read it within seconds), and give every server the same --secrets-key file",
			ErrWrongKey, id, strings.Join(ids, ", "), id)
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ct) < k.aead.NonceSize() {
		return "", errors.New("pki: malformed sealed value")
	}
	pt, err := k.aead.Open(nil, ct[:k.aead.NonceSize()], ct[k.aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("pki: a sealed secret does not open (tampered, or moved from another key): %w", err)
	}
	return string(pt), nil
}

// LoadOrCreateKey reads the newest key of the key file in path, creating
// the file (one key) if it does not exist. See LoadOrCreateKeyRing.
func LoadOrCreateKey(path string) ([]byte, bool, error) {
	keys, created, err := LoadOrCreateKeyRing(path)
	if err != nil {
		return nil, false, err
	}
	return keys[0], created, nil
}

// LoadOrCreateKeyRing reads the key file in path: one 32-byte key (64 hex
// digits) a line, newest first; blank lines and lines starting with # are
// skipped. If the file does not exist it is created with one new key,
// mode 0600 (its directory 0700). A key file readable by others is
// refused.
func LoadOrCreateKeyRing(path string) ([][]byte, bool, error) {
	keys, err := ReadKeyRing(path)
	if err == nil {
		return keys, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("secrets key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	// Write a temporary file, then link it into place: link fails if the
	// key exists, so two servers sharing the directory agree on one key and
	// nobody reads a half-written file.
	tmp, err := writeTemp(path, [][]byte{key})
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); os.IsExist(err) {
		return LoadOrCreateKeyRing(path)
	} else if err != nil {
		return nil, false, fmt.Errorf("secrets key: %w", err)
	}
	return [][]byte{key}, true, nil
}

// ReadKeyRing reads an existing key file (see LoadOrCreateKeyRing). The
// error wraps os.ErrNotExist when there is no file.
func ReadKeyRing(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key %s is readable by others (mode %v): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	var keys [][]byte
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, derr := hex.DecodeString(line)
		if derr != nil || len(key) != 32 {
			return nil, fmt.Errorf("secrets key %s, line %d: want 64 hex digits (a 32-byte key) a line, newest first; restore the original file (the secrets in etcd were sealed with its keys)", path, i+1)
		}
		if id := KeyID(key); seen[id] {
			return nil, fmt.Errorf("secrets key %s, line %d: key %s is in the file twice; remove one line", path, i+1, id)
		} else {
			seen[id] = true
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("secrets key %s holds no key: restore the original file (the secrets in etcd were sealed with it)", path)
	}
	return keys, nil
}

// AddKey puts a new random key at the head of the key file (it becomes
// the newest; the others stay, to open what they sealed) and returns its
// id. The file is replaced atomically, mode 0600.
func AddKey(path string) (string, error) {
	keys, err := ReadKeyRing(path)
	if err != nil {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	if err := replaceKeyFile(path, append([][]byte{key}, keys...)); err != nil {
		return "", err
	}
	return KeyID(key), nil
}

// RemoveKey takes key id out of the key file. The newest key (the one a
// rotation seals with) is never removed, nor the last one.
func RemoveKey(path, id string) error {
	keys, err := ReadKeyRing(path)
	if err != nil {
		return err
	}
	var kept [][]byte
	for i, k := range keys {
		if KeyID(k) != id {
			kept = append(kept, k)
			continue
		}
		if i == 0 {
			return fmt.Errorf("key %s is the newest key of %s, the one secrets are sealed with: add a newer key and rotate first", id, path)
		}
	}
	if len(kept) == len(keys) {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = KeyID(k)
		}
		return fmt.Errorf("%s holds no key %s (it holds %s)", path, id, strings.Join(ids, ", "))
	}
	return replaceKeyFile(path, kept)
}

func writeTemp(path string, keys [][]byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-key-*")
	if err != nil {
		return "", fmt.Errorf("secrets key: %w", err)
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(hex.EncodeToString(k) + "\n")
	}
	err = os.Chmod(tmp.Name(), 0o600)
	if err == nil {
		_, err = tmp.WriteString(b.String())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("secrets key: write %s: %w", path, err)
	}
	return tmp.Name(), nil
}

func replaceKeyFile(path string, keys [][]byte) error {
	tmp, err := writeTemp(path, keys)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("secrets key: %w", err)
	}
	return nil
}
