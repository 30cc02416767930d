package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// The log callback: the server fetches `orch logs` from the agent's own
// HTTPS server. Both ends prove themselves with the cluster CA:
//
//   - at registration the server issues the node a certificate for the
//     serving key the agent generated (IssueNode). It names the node (its
//     common name) and is for client authentication only, so no client or
//     agent ever accepts it as a server's certificate (they all require
//     server use): a compromised agent cannot pose as a server.
//   - the agent serves TLS 1.3 with it and requires a client certificate
//     that the cluster CA signed for server use: only a server of the
//     cluster (NodeServerTLS).
//   - the server checks the agent's certificate chains to the cluster CA
//     and names the node it meant to reach (NodeClientTLS).

// nodeOU marks node certificates (for people reading them; the checks
// rely on the extended key usage and the name).
const nodeOU = "orch node"

// DefaultNodeValidity of a node's serving certificate; every registration
// (each agent start, each re-join) issues a new one.
const DefaultNodeValidity = 365 * 24 * time.Hour

// EncodeNodeKey is how an agent's serving public key travels in its
// registration: base64 of its PKIX DER.
func EncodeNodeKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// IssueNode issues node name a certificate for the serving key pubB64
// (EncodeNodeKey) and returns it as PEM, followed by the CA. validity 0 is
// DefaultNodeValidity.
func (ca *CA) IssueNode(name, pubB64 string, validity time.Duration) ([]byte, error) {
	if validity == 0 {
		validity = DefaultNodeValidity
	}
	der, err := base64.StdEncoding.DecodeString(pubB64)
	if err != nil {
		return nil, fmt.Errorf("pki: servingKey: not base64: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("pki: servingKey: not a PKIX public key: %w", err)
	}
	if err := servingKeyStrong(pub); err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, OrganizationalUnit: []string{nodeOU}, Organization: []string{"orch"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Client use only, on purpose: see the comment at the top.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	out, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue node %s a certificate: %w", name, err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: out}), ca.CertPEM...), nil
}

// servingKeyStrong accepts the keys a TLS 1.3 server can sign with and
// that are strong enough (the agent makes ECDSA P-256): a weak RSA key or
// a key that cannot sign (X25519, DSA) gets no certificate of the CA.
func servingKeyStrong(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() || k.Curve == elliptic.P521() {
			return nil
		}
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
		return fmt.Errorf("pki: servingKey: an RSA key of %d bits: use 2048 bits or more, or ECDSA P-256", k.N.BitLen())
	}
	return fmt.Errorf("pki: servingKey: a %T: use ECDSA (P-256, P-384, P-521), Ed25519 or RSA of 2048 bits or more", pub)
}

// NodeCertificate pairs the certificate chain IssueNode returned with the
// agent's serving key, checking they match.
func NodeCertificate(chainPEM []byte, key crypto.Signer) (*tls.Certificate, error) {
	var c tls.Certificate
	for rest := chainPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			c.Certificate = append(c.Certificate, blk.Bytes)
		}
	}
	if len(c.Certificate) == 0 {
		return nil, errors.New("pki: the node certificate is not PEM")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("pki: the node certificate: %w", err)
	}
	want, _ := x509.MarshalPKIXPublicKey(key.Public())
	got, _ := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if string(want) != string(got) {
		return nil, errors.New("pki: the node certificate is not for this agent's serving key")
	}
	c.PrivateKey, c.Leaf = key, leaf
	return &c, nil
}

// NodeServerTLS is the agent's log server: TLS 1.3 with the node's
// certificate (cert returns the current one, nil before registration),
// requiring a client certificate the CA in caPEM signed for server use.
func NodeServerTLS(caPEM []byte, cert func() *tls.Certificate) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("pki: no PEM certificate in the CA bundle")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := cert(); c != nil {
				return c, nil
			}
			return nil, errors.New("pki: the node has no certificate yet (not registered)")
		},
		ClientAuth: tls.RequireAnyClientCert, // verified below, for server use
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, pool, x509.ExtKeyUsageServerAuth, "the caller's certificate is not a server's of this cluster")
		},
	}, nil
}

// NodeClientTLS is how a server reaches node's agent: it presents its own
// serving certificate as client certificate and accepts only a certificate
// the cluster CA issued to that node (IssueNode).
func NodeClientTLS(ca *x509.Certificate, serverCert tls.Certificate, node string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{serverCert},
		InsecureSkipVerify: true, // replaced by VerifyConnection: the node's name, not the address, is checked
		VerifyConnection: func(cs tls.ConnectionState) error {
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				raw[i] = c.Raw
			}
			if err := verifyChain(raw, pool, x509.ExtKeyUsageClientAuth, "the agent's certificate was not issued by the cluster CA"); err != nil {
				return err
			}
			if cn := cs.PeerCertificates[0].Subject.CommonName; cn != node {
				return fmt.Errorf("pki: the agent's certificate names node %q, not %q (is the node's address reused by another host?)", cn, node)
			}
			return nil
		},
	}
}

func verifyChain(raw [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage, what string) error {
	if len(raw) == 0 {
		return fmt.Errorf("pki: %s: no certificate", what)
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return fmt.Errorf("pki: %s: %w", what, err)
	}
	inter := x509.NewCertPool()
	for _, r := range raw[1:] {
		if c, err := x509.ParseCertificate(r); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("pki: %s: %w", what, err)
	}
	return nil
}
