package api

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/auth"
)

// slow is a feature with a client route and an agent route that block
// until released.
type slow struct{ arrived, release chan struct{} }

func (f *slow) Routes(r Routes) {
	block := func(w http.ResponseWriter, _ *http.Request) {
		f.arrived <- struct{}{}
		<-f.release
		w.WriteHeader(204)
	}
	r.Handle("GET /v1/slow", auth.RoleAdmin, block)
	r.Handle("POST /v1/agent/nodes/{name}/heartbeat", auth.RoleNode, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
}
func (f *slow) Kinds() []Kind { return nil }

// Issue 12 item 3: requests in flight were unlimited, and heavy clients
// starved agents. Clients beyond the limit now get 429 with Retry-After,
// while agents' heartbeats, in their own pool, still go through.
func TestInflightLimitThrottlesClientsNotAgents(t *testing.T) {
	f := &slow{arrived: make(chan struct{}, 2), release: make(chan struct{})}
	toks := tokens{"adm": {Role: auth.RoleAdmin, Name: "admin"}, "n1": {Role: auth.RoleNode, Name: "n1"}}
	srv := httptest.NewServer(New(Config{Features: []Feature{f}, Tokens: toks, MaxRequestsInflight: 2}).Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(f.release)
	for range 2 {
		wg.Go(func() { call(t, srv, "GET", "/v1/slow", "adm", "") })
	}
	for range 2 { // both hold their slot
		select {
		case <-f.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the first two requests were not served")
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/slow", nil)
	req.Header.Set("Authorization", "Bearer adm")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a third client request: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, body := call(t, srv, "POST", "/v1/agent/nodes/n1/heartbeat", "n1", ""); code != 204 {
		t.Errorf("heartbeat while clients are throttled: %d %s, want 204", code, body)
	}
}
