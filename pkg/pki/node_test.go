package pki_test

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/pki"
)

// A node's certificate names the node, is for its serving key only, and is
// never a server's: whatever checks for a server refuses it.
func TestNodeCertificateIsClientOnly(t *testing.T) {
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := pki.EncodeNodeKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.IssueNode("n1", pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.NodeCertificate(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.Subject.CommonName != "n1" || len(c.Certificate) != 2 {
		t.Fatalf("node certificate: CN %q, chain of %d, want n1 and the CA", c.Leaf.Subject.CommonName, len(c.Certificate))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("a node certificate verifies as a server's")
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("a node certificate does not verify for client use: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := pki.NodeCertificate(chain, other); err == nil || !strings.Contains(err.Error(), "serving key") {
		t.Errorf("a certificate paired with another key: %v, want refused", err)
	}
	// Keys a log server should not serve with: weak RSA, a key that
	// cannot sign (X25519), a curve below P-256.
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	var weak []string
	for _, k := range []crypto.PublicKey{&weakRSA.PublicKey, x.PublicKey(), &p224.PublicKey} {
		enc, err := pki.EncodeNodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		weak = append(weak, enc)
	}
	for _, bad := range append([]string{"", "not base64!", "aGVsbG8="}, weak...) {
		if _, err := ca.IssueNode("n1", bad, 0); err == nil || !strings.Contains(err.Error(), "servingKey") {
			t.Errorf("IssueNode(%q): %v, want an error naming servingKey", bad, err)
		}
	}
}
