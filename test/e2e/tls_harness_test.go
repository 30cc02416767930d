package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"time"
)

// The servers the harness starts serve TLS (orch server's default) with
// their cluster's CA. trustCA records each cluster's CA (from the client
// config its first server writes); e2eHTTP verifies servers against those
// CAs, host names included, as a stock client given AWS_CA_BUNDLE does.
var trusted struct {
	sync.Mutex
	pool *x509.CertPool
}

func trustCA(pemData string) {
	trusted.Lock()
	defer trusted.Unlock()
	if trusted.pool == nil {
		trusted.pool = x509.NewCertPool()
	}
	trusted.pool.AppendCertsFromPEM([]byte(pemData))
}

func verifyTrusted(cs tls.ConnectionState) error {
	trusted.Lock()
	pool := trusted.pool
	trusted.Unlock()
	if pool == nil || len(cs.PeerCertificates) == 0 {
		return errors.New("e2e: no cluster CA recorded yet")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: cs.ServerName})
	return err
}

// e2eHTTP is the HTTP client of tests that talk to servers directly (the
// AWS SDK clients, raw requests).
var e2eHTTP = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
	Proxy: http.ProxyFromEnvironment,
	TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by VerifyConnection: the pool grows as clusters start
		VerifyConnection:   verifyTrusted,
	},
	MaxIdleConnsPerHost: 16,
}}

// probeHTTP only asks /healthz whether a process is up, before its CA is
// known: it does not verify the certificate, and carries no credentials.
var probeHTTP = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
}}
