package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/pki"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Issue 11 item 5: the API, the agent protocol and the AWS endpoint were
// cleartext. A server serves TLS by default with a certificate from its
// cluster CA, and its join token pins that CA.
func TestServerServesTLSAndTheJoinTokenPinsItsCA(t *testing.T) {
	cp := testutil.StartServer(t, testutil.WithTLS)
	ctx := context.Background()
	if !strings.HasPrefix(cp.URL, "https://") || cp.CA == nil {
		t.Fatalf("URL %s, CA %v: want https with a cluster CA", cp.URL, cp.CA)
	}
	// Plain HTTP gets no API.
	if resp, err := http.Get("http://" + strings.TrimPrefix(cp.URL, "https://") + "/v1/nodes"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS listener: %d, want 400 (client sent an HTTP request to an HTTPS server)", resp.StatusCode)
		}
	}
	// A client that does not trust the CA is refused by TLS itself.
	if _, err := client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.AdminToken}).ListNodes(ctx); err == nil {
		t.Error("a client without the cluster CA was served")
	}
	pin, ok := pki.PinFromJoinToken(cp.Bootstrap.JoinToken)
	if !ok || pin != cp.CA.Pin() {
		t.Fatalf("join token %q… pins %q, want the CA's %q", cp.Bootstrap.JoinToken[:20], pin, cp.CA.Pin())
	}
	minted, err := cp.Admin.NewJoinToken(ctx)
	if pin2, _ := pki.PinFromJoinToken(minted); err != nil || pin2 != cp.CA.Pin() {
		t.Fatalf("orch join-token --new: %q, %v; want a token pinning the CA", minted, err)
	}

	// An agent given only the token: it trusts the pinned CA and joins.
	agent := client.New(client.Config{Servers: []string{cp.URL}, Token: minted, TLS: pki.PinnedTLS(pin, nil)})
	reg, err := agent.Register(ctx, wire.RegisterRequest{Name: "pinned", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}})
	if err != nil {
		t.Fatalf("register with the pinned CA: %v", err)
	}
	if ep := reg.Env["AWS_ENDPOINT_URL"]; !strings.HasPrefix(ep, "https://") {
		t.Errorf("containers get AWS_ENDPOINT_URL %q, want https", ep)
	}

	// A token pinning another CA: the agent refuses the server before
	// sending anything (its token never reaches a server it cannot trust).
	other, _ := pki.NewCA("another cluster")
	rogue := client.New(client.Config{Servers: []string{cp.URL}, Token: minted, TLS: pki.PinnedTLS(other.Pin(), nil)})
	_, err = rogue.Register(ctx, wire.RegisterRequest{Name: "rogue", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}})
	if !errors.Is(err, pki.ErrPinMismatch) {
		t.Fatalf("register pinning another CA: %v, want ErrPinMismatch", err)
	}
	nodes, err := cp.Admin.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == "rogue" {
			t.Error("the agent pinning another CA registered")
		}
	}
}

// Issue 11 item 1: the SigV4 secret (and now the CA key) are not in etcd
// in clear: reading etcd directly shows neither.
func TestSecretsInEtcdAreSealed(t *testing.T) {
	cp := testutil.StartServer(t, testutil.WithTLS)
	raw, err := clientv3.New(clientv3.Config{Endpoints: cp.Store.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	resp, err := raw.Get(context.Background(), "/orch/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		v := string(kv.Value)
		if strings.Contains(v, cp.Bootstrap.AWSSecretAccessKey) || strings.Contains(v, "PRIVATE KEY") {
			t.Errorf("%s holds a secret in clear", kv.Key)
		}
	}
	// The SigV4 key still verifies: the secret is opened for the server.
	k, err := cp.Store.GetAWSKey(context.Background(), cp.Bootstrap.AWSAccessKeyID)
	if err != nil || k.SecretAccessKey != cp.Bootstrap.AWSSecretAccessKey {
		t.Fatalf("GetAWSKey: %v (same secret: %v)", err, k != nil && k.SecretAccessKey == cp.Bootstrap.AWSSecretAccessKey)
	}
}
