package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/pki"
)

// fakeAMQPS is a TLS listener that reports the first 8 bytes a client sends
// after a completed handshake (an AMQP client's protocol header), then hangs
// up: enough to tell whether amqpDial got past the certificate check.
func fakeAMQPS(t *testing.T, cert tls.Certificate) (addr string, headers <-chan string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				b := make([]byte, 8)
				if _, err := io.ReadFull(c, b); err == nil { // the handshake runs on the first read
					got <- string(b)
				}
			}()
		}
	}()
	return ln.Addr().String(), got
}

func unknownAuthority(err error) bool {
	var e x509.UnknownAuthorityError
	return errors.As(err, &e)
}

func wrongHost(err error) bool {
	var e x509.HostnameError
	return errors.As(err, &e)
}

func writeCA(t *testing.T, ca *pki.CA) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pki.CertPEMOf(tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The AMQPS dial trusts only the given CA and checks the broker's name: a
// certificate from another CA, one for another host, or no CA file (the
// system's roots) all fail before a byte of AMQP is sent; the right CA
// gets the client as far as the AMQP protocol header.
func TestAMQPSDialVerifiesTheBrokerCertificate(t *testing.T) {
	ca, err := pki.NewCA("loadgen test broker CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrongName, err := ca.IssueServer([]string{"broker.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile, otherFile := writeCA(t, ca), writeCA(t, other)

	addr, headers := fakeAMQPS(t, good)
	url := "amqps://guest:s3cret@" + addr + "/"
	_, err = amqpDial(url, caFile)
	select {
	case h := <-headers:
		if h != "AMQP\x00\x00\x09\x01" {
			t.Fatalf("the broker got %q, not the AMQP 0-9-1 header", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the handshake with the right CA did not complete: %v", err)
	}
	if err == nil {
		t.Fatal("a broker that hangs up after the header must fail the dial")
	}

	for _, tc := range []struct {
		name, ca string
		cert     tls.Certificate
		want     func(error) bool
	}{
		{"another CA", otherFile, good, unknownAuthority},
		{"no CA file: the system's roots", "", good, unknownAuthority},
		{"a certificate for another host", caFile, wrongName, wrongHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, headers := fakeAMQPS(t, tc.cert)
			_, err := amqpDial("amqps://guest:s3cret@"+addr+"/", tc.ca)
			if err == nil || !tc.want(err) {
				t.Fatalf("dial error %v, want a certificate verification error of another kind", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the password: %v", err)
			}
			select {
			case h := <-headers:
				t.Fatalf("the client sent %q to a broker it should not trust", h)
			default:
			}
		})
	}

	if _, err := amqpDial("amqp://guest:s3cret@"+addr+"/", caFile); err == nil || !strings.Contains(err.Error(), "amqps://") {
		t.Fatalf("--amqp-ca with a plain amqp:// URL: %v, want a refusal", err)
	}
	if _, err := amqpDial("amqps://guest:s3cret@127.0.0.1:bad/", caFile); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a bad URL: %v, want an error without the password", err)
	}
}
