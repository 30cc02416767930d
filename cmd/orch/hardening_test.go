package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/clientconfig"
	"github.com/orch-project/orch/pkg/model"
)

// Issue 12 item 7: the config file held one server URL, so the CLI failed
// when that server died; and text a client stored (group, startedBy) was
// printed raw, control characters and all.
func TestCLIFailsOverAndEscapesStoredText(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"tasks": []*model.Task{{
			TaskID: "0123456789abcdef", Family: "web", Revision: 1, Group: "evil\x1b[2J\rgroup",
			DesiredStatus: "RUNNING", LastStatus: "PENDING", CreatedAt: time.Now(),
		}}})
	}))
	defer live.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := clientconfig.Save(cfg, &clientconfig.File{Server: dead, Servers: []string{live.URL}, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ORCH_CONFIG", cfg)
	t.Setenv("ORCH_SERVER", "")
	os.Unsetenv("ORCH_SERVER")
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"get", "tasks", "-o", "wide"})
	if err := root.Execute(); err != nil {
		t.Fatalf("orch get tasks with the first configured server down: %v", err)
	}
	if strings.ContainsAny(out.String(), "\x1b\r") || !strings.Contains(out.String(), `evil\x1b[2J\rgroup`) {
		t.Errorf("the group was not escaped:\n%q", out.String())
	}
}
