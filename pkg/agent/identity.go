package agent

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// IdentityFile is the host key's file name in the agent's state dir.
const IdentityFile = "node.key"

// LoadOrCreateIdentity returns the host's identity key kept in dir,
// creating dir (0700) and the key (0600, PKCS#8 PEM) on first start. The
// control plane binds the node name to this key, so the agent re-registers
// its node after a restart and no other host can take the name; losing
// the file means the node must be removed (orch node rm NAME) before the
// host joins again under its name.
func LoadOrCreateIdentity(dir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, IdentityFile)
	if key, err := readIdentity(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("agent: generating the host key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("agent: encoding the host key: %w", err)
	}
	// O_EXCL: two agents starting at once on one state dir end up with the
	// same key (the loser reads the winner's) rather than two.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readIdentity(path)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: host key %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("agent: writing the host key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("agent: writing the host key %s: %w", path, err)
	}
	return key, nil
}

func readIdentity(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		// A file still being written by a concurrent first start.
		return nil, fmt.Errorf("agent: host key %s is not a PEM file: remove it to make a new key (then orch node rm the node)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("agent: host key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("agent: host key %s is not an ed25519 key", path)
	}
	return key, nil
}
