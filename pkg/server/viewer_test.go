package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
)

// A viewer token may call every GET of /v1 (docs/api.md), the queues',
// topics' and autoscaling lists included, so `orch get queues` works with
// it; writes stay admin-only. The merge of those features mounted their
// routes admin-only, and `orch get queues` with a viewer token was a 403.
func TestViewerReadsFeatureLists(t *testing.T) {
	cp := testutil.StartServer(t)
	adm := cp.Bootstrap.AdminToken
	code, body := postJSON(t, cp, "/v1/tokens", adm, `{"role":"viewer","name":"r2"}`)
	if code != 200 && code != 201 {
		t.Fatalf("mint viewer token: %d %s", code, body)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("mint viewer token: %s (%v)", body, err)
	}
	if code, body := postJSON(t, cp, "/v1/queues", adm, `{"QueueName":"orders"}`); code != 200 && code != 201 {
		t.Fatalf("create queue: %d %s", code, body)
	}
	get := func(path string) int {
		req, _ := http.NewRequest("GET", cp.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/v1/queues", "/v1/queues/orders", "/v1/topics", "/v1/scalabletargets", "/v1/scalingpolicies", "/v1/services"} {
		if code := get(p); code != http.StatusOK {
			t.Errorf("viewer GET %s: %d, want 200", p, code)
		}
	}
	if code, body := postJSON(t, cp, "/v1/queues", tok.Token, `{"QueueName":"nope"}`); code != http.StatusForbidden {
		t.Errorf("viewer POST /v1/queues: %d %s, want 403", code, body)
	}
}
