package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// TestPerServerReachesEachReplicaWithTheNodeToken: an agent attaches its
// invocation stream to every replica through PerServer; each per-server
// client talks to its own replica only, with the node token the agent got
// when it registered (through the parent client).
func TestPerServerReachesEachReplicaWithTheNodeToken(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // replica -> Authorization of the result POST
	replica := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/agent/nonce":
				_ = json.NewEncoder(w).Encode(wire.NonceResponse{Nonce: "n-1"})
			case "/v1/agent/register":
				_ = json.NewEncoder(w).Encode(wire.RegisterResponse{NodeToken: "node-secret"})
			default:
				mu.Lock()
				seen[name] = r.Header.Get("Authorization")
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}
		}))
	}
	a, b := replica("a"), replica("b")
	defer a.Close()
	defer b.Close()
	c := client.New(client.Config{Servers: []string{a.URL, b.URL}, Token: "join-token"})
	if _, err := c.Register(context.Background(), wire.RegisterRequest{}); err != nil {
		t.Fatal(err)
	}
	per := c.PerServer()
	if len(per) != 2 {
		t.Fatalf("%d per-server clients, want 2", len(per))
	}
	for _, p := range per {
		if err := p.InvocationResult(context.Background(), "n1", "req-1", wire.InvocationResult{}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["a"] != "Bearer node-secret" || seen["b"] != "Bearer node-secret" {
		t.Fatalf("results reached replicas with %v, want both with the node token", seen)
	}
}
