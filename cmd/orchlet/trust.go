package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/pki"
)

// trust is how the agent reaches the servers: their URLs, the TLS
// configuration (nil for plain HTTP) and the CA its containers get.
type trust struct {
	servers []string
	tls     *tls.Config
	caPEM   []byte
}

// serverTrust decides how to trust the servers. A join token pinning the
// cluster CA (orch server's default) is enough: the agent fetches the CA
// from a server, checks its fingerprint against the pin, and trusts only
// servers whose certificate that CA signed. --ca-file trusts a given CA
// instead. An http:// server with neither is plain HTTP (--plain-http).
func serverTrust(ctx context.Context, servers []string, token, caFile string, log *slog.Logger) (*trust, error) {
	pin, pinned := pki.PinFromJoinToken(token)
	t := &trust{}
	for _, s := range servers {
		s = strings.TrimRight(strings.TrimSpace(s), "/")
		if s == "" {
			continue
		}
		if !strings.Contains(s, "://") {
			s = "http://" + s
			if pinned || caFile != "" {
				s = "https://" + strings.TrimPrefix(s, "http://")
			}
		}
		if (pinned || caFile != "") && strings.HasPrefix(s, "http://") && strings.Contains(servers[0], "://") {
			log.Warn("the join token pins the cluster CA: talking TLS to the server given as http://", "server", s)
			s = "https://" + strings.TrimPrefix(s, "http://")
		}
		t.servers = append(t.servers, s)
	}
	if len(t.servers) == 0 {
		return nil, errors.New("--server is required (the orch server URL, e.g. https://10.0.0.1:7474)")
	}
	switch {
	case caFile != "":
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if t.tls, err = pki.ClientTLS(b); err != nil {
			return nil, fmt.Errorf("--ca-file %s: %w", caFile, err)
		}
		t.caPEM = b
	case pinned:
		ca, err := fetchCA(ctx, t.servers, pin, log)
		if err != nil {
			return nil, err
		}
		t.tls, t.caPEM = pki.PinnedTLS(pin, nil), ca
	default:
		for _, s := range t.servers {
			if strings.HasPrefix(s, "https://") {
				return nil, fmt.Errorf("server %s is https, but the join token pins no CA and there is no --ca-file: use a join token from `orch join-token` (it pins the cluster CA) or pass --ca-file", s)
			}
		}
		log.Warn("talking plain HTTP to the servers: the join token and task secrets cross the network in clear")
	}
	return t, nil
}

// fetchCA gets the pinned CA from the first server that answers, retrying
// while none does (agents may start before the servers). A server whose
// CA does not match the pin is refused at once: that is not a network
// blip but the wrong cluster or a man in the middle.
func fetchCA(ctx context.Context, servers []string, pin string, log *slog.Logger) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		var lastErr error
		for _, s := range servers {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ca, err := pki.FetchPinnedCA(dctx, s, pin)
			cancel()
			if err == nil {
				return ca, nil
			}
			if errors.Is(err, pki.ErrPinMismatch) {
				return nil, fmt.Errorf("refusing server %s: %w", s, err)
			}
			lastErr = err
		}
		if attempt == 0 || attempt%15 == 0 {
			log.Warn("no server answered yet; retrying", "err", lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
