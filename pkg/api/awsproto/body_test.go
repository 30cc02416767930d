package awsproto

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRestoredBodyKeepsConnectionsRight: a handler that reads the body
// with ReadBody and restores it (as serveAWS does) answers requests on one
// kept-alive connection, and a body over the limit never leaves bytes that
// would be read as the next request.
func TestRestoredBodyKeepsConnectionsRight(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer RestoreBody(r)
		b, err := ReadBody(r, 1<<10)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "%d:%s", len(b), b)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	post := func(body string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := range 5 {
		if code, got := post(fmt.Sprintf(`{"n":%d}`, i)); code != 200 || got != fmt.Sprintf(`7:{"n":%d}`, i) {
			t.Fatalf("request %d: %d %q", i, code, got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 requests took %d connections, want 1 (kept alive)", n)
	}
	// Over the limit, with what follows crafted to look like a request:
	// it must be drained or the connection closed, never parsed.
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	big := strings.Repeat("a", 2<<10) + smuggled
	if code, _ := post(big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the limit: status %d, want 413", code)
	}
	huge := bytes.Repeat([]byte("b"), 300<<10) // more than net/http drains
	if code, _ := post(string(huge) + smuggled); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("far over the limit: status %d, want 413", code)
	}
	if code, got := post(`{"n":9}`); code != 200 || got != `7:{"n":9}` {
		t.Fatalf("after the large bodies: %d %q", code, got)
	}
}
