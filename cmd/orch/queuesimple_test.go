package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// `orch queue purge|delete` confirm in plain English ("purged", not "purgd").
func TestQueuePurgeDeleteConfirm(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	t.Setenv("ORCH_CONFIG", filepath.Join(t.TempDir(), "config.yaml"))
	g := &globals{server: srv.URL, token: "t"}
	for verb, want := range map[string]string{"purge": "queue orders purged\n", "delete": "queue orders deleted\n"} {
		cmd := queueSimpleCmd(g, verb, "")
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"orders"})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		if out.String() != want {
			t.Errorf("%s printed %q, want %q", verb, out.String(), want)
		}
	}
	if len(got) != 2 {
		t.Errorf("requests %v, want one purge and one delete", got)
	}
}
