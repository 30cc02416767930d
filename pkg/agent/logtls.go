package agent

import (
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"sync/atomic"

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
}

// adopt takes the certificate a registration returned. caPEM is the
// cluster CA the agent trusts the servers by; without one (an agent given
// no bundle) the CA at the end of the chain is used: it came over the
// connection to a server the agent already trusts.
func (l *logTLS) adopt(resp wire.RegisterResponse, caPEM []byte) error {
	if resp.NodeCert == "" {
		return nil
	}
	c, err := pki.NodeCertificate([]byte(resp.NodeCert), l.key)
	if err != nil {
		return err
	}
	if len(caPEM) == 0 && len(c.Certificate) > 1 {
		caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[len(c.Certificate)-1]})
	}
	if len(caPEM) == 0 {
		return fmt.Errorf("the node certificate came without the cluster CA")
	}
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
