package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/server"
)

// A long-running server renews its serving certificate before it
// expires: with a 6 s lifetime, handshakes after 2/3 of it (4 s) present
// a new certificate from the cluster CA, and a client connecting after the
// first certificate's NotAfter still verifies the server (a server up 13
// months with the default year keeps serving TLS the same way).
func TestServingCertificateIsRenewedBeforeExpiry(t *testing.T) {
	const life = 6 * time.Second
	cp := testutil.StartServer(t, testutil.WithTLS, func(c *server.Config) { c.ServerCertValidity = life })
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(cp.Server.CA.CertPEM) {
		t.Fatal("no CA")
	}
	leaf := func() (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(cp.URL, "https://"), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	first, err := leaf()
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(first.NotAfter); got > life || got <= 0 {
		t.Fatalf("first certificate expires in %v, want within %v", got, life)
	}
	var second *x509.Certificate
	testutil.WaitFor(t, 30*time.Second, "the server to present a renewed certificate", func() (bool, string) {
		c, err := leaf()
		if err != nil {
			return false, err.Error()
		}
		second = c
		return c.SerialNumber.Cmp(first.SerialNumber) != 0, "still serial " + c.SerialNumber.String()
	})
	if !second.NotAfter.After(first.NotAfter) {
		t.Fatalf("renewed certificate expires %v, not after the first's %v", second.NotAfter, first.NotAfter)
	}
	if renewedAt := second.NotAfter.Add(-life); renewedAt.Before(first.NotAfter.Add(-life).Add(life * 2 / 3)) {
		t.Fatalf("renewed at %v, before 2/3 of the first's lifetime (%v)", renewedAt, first.NotAfter.Add(-life).Add(life*2/3))
	}
	// Past the first certificate's expiry, a verifying client (the stock
	// HTTP client with the CA, as the CLI and SDKs) still gets through.
	testutil.WaitFor(t, 30*time.Second, "the first certificate to expire", func() (bool, string) {
		return time.Now().After(first.NotAfter.Add(time.Second)), "not yet"
	})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cp.URL+"/healthz", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("after the first certificate expired: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}
