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
)

// Sealer encrypts the secrets a server keeps in clear (SigV4 secret keys,
// the SNS signing key, the CA key) with AES-256-GCM under a key kept in a
// file outside etcd, so a copy of etcd (a backup, a local user reading the
// database) does not reveal them.
type Sealer struct {
	aead cipher.AEAD
	id   string
}

// sealedPrefix marks a sealed value; the key id follows, so a replica
// with another key file says so instead of failing obscurely.
const sealedPrefix = "orchsealed:v1:"

// ErrWrongKey: a value was sealed with another key file.
var ErrWrongKey = errors.New("pki: secret sealed with another key")

// NewSealer uses a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
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
	sum := sha256.Sum256(append([]byte("orch-key-id:"), key...))
	return &Sealer{aead: aead, id: hex.EncodeToString(sum[:4])}, nil
}

// ID names the key (not secret: a hash prefix) in sealed values and errors.
func (s *Sealer) ID() string { return s.id }

// Seal encrypts plaintext; aad binds it to where it is stored (its etcd
// key), so a sealed value moved to another key does not open.
func (s *Sealer) Seal(plaintext, aad string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return sealedPrefix + s.id + ":" + base64.StdEncoding.EncodeToString(ct)
}

// Sealed reports whether v is a sealed value.
func Sealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

// Open decrypts a value Seal made with the same aad. A value that is not
// sealed (written before sealing existed) is returned as is.
func (s *Sealer) Open(v, aad string) (string, error) {
	rest, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return v, nil
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("pki: malformed sealed value")
	}
	if id != s.id {
		return "", fmt.Errorf("%w %s, this server's key is %s: give every server the same --secrets-key file", ErrWrongKey, id, s.id)
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ct) < s.aead.NonceSize() {
		return "", errors.New("pki: malformed sealed value")
	}
	pt, err := s.aead.Open(nil, ct[:s.aead.NonceSize()], ct[s.aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("pki: a sealed secret does not open (tampered, or moved from another key): %w", err)
	}
	return string(pt), nil
}

// LoadOrCreateKey reads the 32-byte key in path (hex), creating it with
// mode 0600 (and its directory 0700) if it does not exist. A key file
// readable by others is refused.
func LoadOrCreateKey(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		fi, serr := os.Stat(path)
		if serr == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("secrets key %s is readable by others (mode %v): chmod 600 %s", path, fi.Mode().Perm(), path)
		}
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) != 32 {
			return nil, false, fmt.Errorf("secrets key %s: want 64 hex digits (32 bytes); restore the original file (the secrets in etcd were sealed with it)", path)
		}
		return key, false, nil
	}
	if !os.IsNotExist(err) {
		return nil, false, fmt.Errorf("secrets key: %w", err)
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
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("secrets key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return nil, false, fmt.Errorf("secrets key: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); os.IsExist(err) {
		return LoadOrCreateKey(path)
	} else if err != nil {
		return nil, false, fmt.Errorf("secrets key: %w", err)
	}
	return key, true, nil
}
