package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// CABundlePath is where containers find the cluster CA (AWS_CA_BUNDLE).
const CABundlePath = "/etc/orch/ca.pem"

// writeCABundle puts the cluster CA in a file containers can mount: named
// by its hash, so agents sharing a host (and restarts) reuse one file. The
// CA certificate is public; the file is world-readable so a container
// running as any user can read it.
func writeCABundle(pem []byte) (string, error) {
	if len(pem) == 0 {
		return "", nil
	}
	sum := sha256.Sum256(pem)
	dir := filepath.Join(os.TempDir(), "orch-ca")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("agent: a directory for the cluster CA: %w", err)
	}
	path := filepath.Join(dir, hex.EncodeToString(sum[:8])+".pem")
	if b, err := os.ReadFile(path); err == nil && string(b) == string(pem) {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, ".ca-*")
	if err != nil {
		return "", fmt.Errorf("agent: write the cluster CA: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pem)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("agent: write the cluster CA: %w", err)
	}
	return path, nil
}

// caMount is the read-only mount of the CA bundle, if there is one.
func (a *Agent) caMount() []runtime.Mount {
	if a.caFile == "" {
		return nil
	}
	return []runtime.Mount{{Source: a.caFile, Target: CABundlePath, ReadOnly: true}}
}
