package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
)

// Host identity. An agent keeps an ed25519 key in its state dir and proves
// it holds it whenever it registers: it fetches a single-use nonce from the
// server and signs NodeProofMessage. The server binds a node name to the
// first key that registers it, and refuses that name to any other key
// (Nomad refuses a node id re-registered under another secret for the same
// reason): a join token alone can no longer take over an existing node,
// its assignments (with their secrets) or its task reports.

// nodeProofDomain separates these signatures from any other use of the key.
const nodeProofDomain = "orch-node-register-v1"

// NodeProofMessage is what an agent signs to register: the nonce the
// server handed out, the node name and the public key (base64), so a
// signature cannot be replayed for another name, key or registration.
func NodeProofMessage(nonce, name, publicKey string) []byte {
	return []byte(nodeProofDomain + "\n" + nonce + "\n" + name + "\n" + publicKey)
}

// EncodePublicKey is how a node's public key travels and is stored.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// SignNodeProof signs a registration with the node's key; it returns the
// public key and signature as they go on the wire.
func SignNodeProof(key ed25519.PrivateKey, nonce, name string) (publicKey, signature string) {
	publicKey = EncodePublicKey(key.Public().(ed25519.PublicKey))
	sig := ed25519.Sign(key, NodeProofMessage(nonce, name, publicKey))
	return publicKey, base64.StdEncoding.EncodeToString(sig)
}

// ErrBadNodeProof is returned when a registration's signature does not
// verify with the key it carries.
var ErrBadNodeProof = errors.New("auth: bad node proof")

// VerifyNodeProof checks a registration's signature. Errors name the field.
func VerifyNodeProof(nonce, name, publicKey, signature string) error {
	pub, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: publicKey: must be a base64 ed25519 public key (%d bytes)", ErrBadNodeProof, ed25519.PublicKeySize)
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature: must be a base64 ed25519 signature (%d bytes)", ErrBadNodeProof, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, NodeProofMessage(nonce, name, publicKey), sig) {
		return fmt.Errorf("%w: signature: does not verify with publicKey for this nonce and node name", ErrBadNodeProof)
	}
	return nil
}

// KeyFingerprint is a short, printable name of a public key for messages
// and `orch describe node` (the first 16 characters of its base64).
func KeyFingerprint(publicKey string) string {
	if len(publicKey) > 16 {
		return publicKey[:16]
	}
	return publicKey
}
