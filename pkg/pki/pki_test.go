package pki_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/pki"
)

func TestJoinTokenCarriesThePin(t *testing.T) {
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	tok := pki.JoinTokenPrefix(ca.Pin()) + "0123abcd"
	pin, ok := pki.PinFromJoinToken(tok)
	if !ok || pin != ca.Pin() {
		t.Fatalf("PinFromJoinToken(%q) = %q, %v; want %q", tok, pin, ok, ca.Pin())
	}
	for _, bad := range []string{"orchjoin_0123abcd", "orchadm_x", pki.JoinTokenPrefix("short") + "x", ""} {
		if _, ok := pki.PinFromJoinToken(bad); ok {
			t.Errorf("PinFromJoinToken(%q) found a pin", bad)
		}
	}
}

// serve answers TLS handshakes with a certificate from ca.
func serve(t *testing.T, ca *pki.CA) string {
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// An agent given a token that pins another CA refuses the server (a man
// in the middle, or the wrong cluster) before it sends the token.
func TestPinnedTLSRefusesAnotherCA(t *testing.T) {
	ours, _ := pki.NewCA("ours")
	theirs, _ := pki.NewCA("theirs")
	addr := serve(t, theirs)
	if _, err := pki.FetchPinnedCA(context.Background(), addr, ours.Pin()); !errors.Is(err, pki.ErrPinMismatch) {
		t.Fatalf("FetchPinnedCA against another CA: %v, want ErrPinMismatch", err)
	}
	got, err := pki.FetchPinnedCA(context.Background(), "https://"+addr, theirs.Pin())
	if err != nil || string(got) != string(theirs.CertPEM) {
		t.Fatalf("FetchPinnedCA with the right pin: %v (got the CA: %v)", err, string(got) == string(theirs.CertPEM))
	}
	// A certificate the CA did not sign for a server does not pass
	// either, even if the chain carries the pinned CA.
	rogueCert, rogueKey, _ := theirs.IssueClient("rogue", 0)
	pair, err := tls.X509KeyPair(append(rogueCert, theirs.CertPEM...), rogueKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), pki.PinnedTLS(theirs.Pin(), nil))
	if err == nil {
		conn.Close()
		t.Fatal("a client certificate was accepted as a server's")
	}
}

func TestSealerRoundTripAndBinding(t *testing.T) {
	key := make([]byte, 32)
	s, err := pki.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Seal("secret", "/orch/auth/awskeys/A")
	if strings.Contains(v, "secret") || !pki.Sealed(v) {
		t.Fatalf("sealed value %q shows the secret", v)
	}
	if got, err := s.Open(v, "/orch/auth/awskeys/A"); err != nil || got != "secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(v, "/orch/auth/awskeys/B"); err == nil {
		t.Error("a sealed value moved to another key opened")
	}
	if got, _ := s.Open("legacy-plain", "x"); got != "legacy-plain" {
		t.Errorf("an unsealed (older) value: %q", got)
	}
}

func TestKeyFileIsPrivateAndStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secrets.key")
	k1, created, err := pki.LoadOrCreateKey(path)
	if err != nil || !created || len(k1) != 32 {
		t.Fatalf("create: %v %v %d", err, created, len(k1))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := pki.LoadOrCreateKey(path)
	if err != nil || created || string(k1) != string(k2) {
		t.Fatalf("reload: %v created=%v same=%v", err, created, string(k1) == string(k2))
	}
	os.Chmod(path, 0o644)
	if _, _, err := pki.LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file: %v, want a refusal saying chmod 600", err)
	}
}
