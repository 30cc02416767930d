package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Issue 11 (Also): secrets are accepted from a file or the environment,
// not only argv (ps shows argv to every local user).
func TestTokenFromFileNotArgv(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"nodes":[]}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("orchadm_fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ORCH_CONFIG", filepath.Join(dir, "config.yaml"))
	t.Setenv("ORCH_TOKEN", "")
	t.Setenv("ORCH_TOKEN_FILE", tok)
	g := &globals{server: srv.URL}
	c, err := g.client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListNodes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "Bearer orchadm_fromfile" {
		t.Fatalf("Authorization %q, want the token from ORCH_TOKEN_FILE", got)
	}
	// --token-file wins over the environment's file; an empty file is an error.
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	g.tokenFile = empty
	if _, err := g.client(); err == nil {
		t.Error("an empty --token-file was accepted")
	}
}
