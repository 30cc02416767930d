package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/pki"
)

// Issue 11 review: the node certificate route answers every token but the
// node's own (and admins') with 403, and junk input with a 4xx that names
// servingKey, never a 500 or a certificate.
func TestNodeCertRouteRefusals(t *testing.T) {
	cp := testutil.StartServer(t, testutil.WithTLS)
	ctx := context.Background()
	node := testutil.StartHandAgent(t, cp.Agent, "n1", 1024, 1024, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := pki.EncodeNodeKey(key.Public())
	tlsCfg := pki.PinnedTLS(cp.CA.Pin(), nil)
	withToken := func(tok string) *client.Client {
		return client.New(client.Config{Servers: []string{cp.URL}, Token: tok, TLS: tlsCfg})
	}
	status := func(err error) (int, string) {
		var e *client.Error
		if errors.As(err, &e) {
			return e.Status, e.Message
		}
		if err != nil {
			return 0, err.Error()
		}
		return http.StatusOK, ""
	}

	clients := map[string]*client.Client{"join": withToken(cp.Bootstrap.JoinToken)}
	for _, role := range []string{"viewer", "deployer"} {
		tok, err := cp.Admin.CreateToken(ctx, wire.TokenRequest{Role: role, Name: "t-" + role})
		if err != nil {
			t.Fatal(err)
		}
		clients[role] = withToken(tok.Token)
	}
	for who, c := range clients {
		if got, msg := status(func() error { _, err := c.RenewNodeCert(ctx, "n1", pub); return err }()); got != http.StatusForbidden {
			t.Errorf("a %s token asking a certificate for node n1: %d %s, want 403", who, got, msg)
		}
	}

	// Junk from the node itself: each a 400 naming servingKey.
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakPub, _ := pki.EncodeNodeKey(&weak.PublicKey)
	for _, bad := range []string{"", "not base64!", "aGVsbG8=", strings.Repeat("A", 64<<10), weakPub} {
		got, msg := status(func() error { _, err := node.Client().RenewNodeCert(ctx, "n1", bad); return err }())
		if got != http.StatusBadRequest || !strings.Contains(msg, "servingKey") {
			t.Errorf("servingKey %.40q: %d %q, want 400 naming servingKey", bad, got, msg)
		}
	}
	var out wire.NodeCertResponse
	for _, body := range []any{"just a string", map[string]any{"servingKey": 42}, []int{1}} {
		got, msg := status(node.Client().Do(ctx, http.MethodPost, "/v1/agent/nodes/n1/certificate", body, &out))
		if got < 400 || got >= 500 {
			t.Errorf("body %v: %d %q, want 4xx", body, got, msg)
		}
	}
	// An admin asking for a node that is not registered: 404.
	if got, msg := status(func() error { _, err := cp.Admin.RenewNodeCert(ctx, "ghost", pub); return err }()); got != http.StatusNotFound {
		t.Errorf("a certificate for an unregistered node: %d %q, want 404", got, msg)
	}
	// The node's own, for its own name: a certificate naming it only.
	chain, err := node.Client().RenewNodeCert(ctx, "n1", pub)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.NodeCertificate([]byte(chain), key)
	if err != nil || c.Leaf.Subject.CommonName != "n1" || len(c.Leaf.DNSNames)+len(c.Leaf.IPAddresses)+len(c.Leaf.URIs)+len(c.Leaf.EmailAddresses) != 0 || c.Leaf.IsCA {
		t.Fatalf("node n1's certificate: %v, want CN n1, no other names, not a CA", err)
	}
}
