package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// joinTokenPrefix starts every join token; the pin follows when the
// cluster serves TLS: orchjoin_<pin>_<secret>.
const joinTokenPrefix = "orchjoin_"

// JoinTokenPrefix is what a join token minted for a cluster whose CA has
// pin starts with (pin "": a plain-HTTP cluster, no pin). The whole token,
// pin included, is the secret the server checks (only its hash is
// stored), so a pin cannot be swapped for another.
func JoinTokenPrefix(pin string) string {
	if pin == "" {
		return joinTokenPrefix
	}
	return joinTokenPrefix + pin + "_"
}

// PinFromJoinToken returns the CA pin a join token carries, and false for
// a token without one.
func PinFromJoinToken(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, joinTokenPrefix)
	if !ok {
		return "", false
	}
	pin, _, ok := strings.Cut(rest, "_")
	if !ok || len(pin) != 52 {
		return "", false
	}
	return pin, true
}

// ClientTLS trusts servers whose certificate chains to the CA in caPEM,
// with ordinary host name checks (the CLI, SDKs).
func ClientTLS(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("pki: no PEM certificate in the CA bundle")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// ErrPinMismatch: the server presented no CA with the pinned fingerprint.
var ErrPinMismatch = errors.New("pki: the server's CA does not match the join token's pin")

// PinnedTLS trusts a server whose certificate chain contains the CA with
// the given pin and whose leaf that CA signed for server use. The host
// name is not checked: the cluster CA is private and only ever issues
// servers' certificates (as in Swarm), so agents can reach a server by any
// address (NAT, a name not in its SANs). ca, if not nil, receives the
// verified CA certificate.
func PinnedTLS(pin string, ca func(*x509.Certificate)) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("pki: the server sent no certificate")
			}
			var root *x509.Certificate
			for _, c := range cs.PeerCertificates[1:] {
				if c.IsCA && PinOf(c.Raw) == pin {
					root = c
				}
			}
			if root == nil {
				return fmt.Errorf("%w (pinned %s…): is this the right server, or was the token made for another cluster?", ErrPinMismatch, pin[:min(12, len(pin))])
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				return fmt.Errorf("pki: the server's certificate does not chain to the pinned CA: %w", err)
			}
			if ca != nil {
				ca(root)
			}
			return nil
		},
	}
}

// FetchPinnedCA connects to a server (host:port or an https URL) and
// returns its CA as PEM once the pin matched: how an agent given only a
// join token learns the CA it hands its containers (AWS_CA_BUNDLE).
func FetchPinnedCA(ctx context.Context, addr, pin string) ([]byte, error) {
	addr = strings.TrimPrefix(addr, "https://")
	addr, _, _ = strings.Cut(addr, "/")
	var got *x509.Certificate
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: PinnedTLS(pin, func(c *x509.Certificate) { got = c })}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: got.Raw}), nil
}
