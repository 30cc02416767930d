package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/pki"
)

// The log callback over TLS. The agent generates a serving key at start
// (in memory only) and sends its public half at registration; a TLS
// cluster answers with a certificate the cluster CA issued to this node
// for that key. From then on the logs port speaks only TLS 1.3 with that
// certificate and admits only callers presenting a certificate the
// cluster CA signed for server use: the servers. In a plain-HTTP cluster
// no certificate comes, the port stays plain HTTP and /logs requires the
// callback token.

// logTLS holds the agent's current log-server TLS state.
type logTLS struct {
	key  *ecdsa.PrivateKey
	cert atomic.Pointer[tls.Certificate]
	cfg  atomic.Pointer[tls.Config] // nil until a certificate arrived: plain HTTP
	// renewAt: unix nanoseconds at which cert is due for renewal.
	renewAt atomic.Int64
}

// adopt takes the certificate a registration returned.
func (l *logTLS) adopt(resp wire.RegisterResponse, caPEM []byte) error {
	if resp.NodeCert == "" {
		return nil
	}
	return l.adoptChain(resp.NodeCert, caPEM)
}

// adoptChain takes a certificate the cluster CA issued (at registration
// or renewal) and serves it from the next handshake on; connections
// already open keep theirs. caPEM is the cluster CA the agent trusts the
// servers by; without one (an agent given no bundle) the CA at the end of
// the chain is used: it came over the connection to a server the agent
// already trusts.
func (l *logTLS) adoptChain(chainPEM string, caPEM []byte) error {
	c, err := pki.NodeCertificate([]byte(chainPEM), l.key)
	if err != nil {
		return err
	}
	if len(caPEM) == 0 && len(c.Certificate) > 1 {
		caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[len(c.Certificate)-1]})
	}
	if len(caPEM) == 0 {
		return fmt.Errorf("the node certificate came without the cluster CA")
	}
	now := time.Now()
	l.renewAt.Store(now.Add(c.Leaf.NotAfter.Sub(now) * 2 / 3).UnixNano())
	l.cert.Store(c)
	if l.cfg.Load() != nil {
		return nil // the config reads the current certificate; the CA stays
	}
	cfg, err := pki.NodeServerTLS(caPEM, l.cert.Load)
	if err != nil {
		return err
	}
	l.cfg.Store(cfg)
	return nil
}

// due is when the current certificate is to be renewed (2/3 of the way
// from when it arrived to its NotAfter); false without one (a plain-HTTP
// cluster).
func (l *logTLS) due() (time.Time, bool) {
	if l.cert.Load() == nil {
		return time.Time{}, false
	}
	return time.Unix(0, l.renewAt.Load()), true
}

// certRenewer is the control plane's renewal of node certificates
// (client.Client has it; test doubles of the control plane need not).
type certRenewer interface {
	RenewNodeCert(ctx context.Context, node, servingKey string) (string, error)
}

// renewLogCert keeps the log server's certificate valid for as long as the
// agent stays registered: at 2/3 of its lifetime it asks the control plane
// for a new one (with its node token), and on failure retries after a
// tenth of what is left (at least a second), so a certificate is not let
// expire for want of a retry. A registration, which issues a certificate
// too, restarts it.
func (a *Agent) renewLogCert(ctx context.Context) {
	cp, ok := a.cp.(certRenewer)
	if !ok {
		return
	}
	for {
		at, ok := a.logTLS.due()
		if !ok {
			return
		}
		if d := time.Until(at); d > 0 && !sleepCtx(ctx, d) {
			return
		}
		key, err := pki.EncodeNodeKey(a.logTLS.key.Public())
		var chain string
		if err == nil {
			chain, err = cp.RenewNodeCert(ctx, a.node, key)
		}
		if err == nil {
			err = a.logTLS.adoptChain(chain, a.cfg.CABundle)
		}
		if err == nil {
			a.log.Info("log server certificate renewed", "notAfter", a.logTLS.cert.Load().Leaf.NotAfter)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		retry := time.Until(a.logTLS.cert.Load().Leaf.NotAfter) / 10
		if retry < time.Second {
			retry = time.Second
		}
		a.log.Warn("cannot renew the log server's certificate; retrying", "err", err, "notAfter", a.logTLS.cert.Load().Leaf.NotAfter, "retryIn", retry.Round(time.Second))
		if !sleepCtx(ctx, retry) {
			return
		}
	}
}

// tlsOnceIssued serves TLS on every connection accepted after the node got
// its certificate, and plain HTTP before that (and for ever in a
// plain-HTTP cluster). A plain request to a TLS port is answered 400
// ("Client sent an HTTP request to an HTTPS server") by net/http.
type tlsOnceIssued struct {
	net.Listener
	l *logTLS
}

func (t tlsOnceIssued) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if cfg := t.l.cfg.Load(); cfg != nil {
		return tls.Server(c, cfg), nil
	}
	return c, nil
}
