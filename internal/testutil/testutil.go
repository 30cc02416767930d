// Package testutil holds fixtures shared by Orch's tests: an in-process
// control plane, hand-driven agents, builders and polling helpers.
package testutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// Logger returns a quiet logger, or a verbose one with ORCH_TEST_LOG=1.
func Logger() *slog.Logger {
	if os.Getenv("ORCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// ControlPlane is an in-process orch server on embedded etcd with clients
// for its admin and agent roles.
type ControlPlane struct {
	*server.Server
	Admin *client.Client
	Agent *client.Client
}

// StartServer starts a control plane in t's temp dir; opts may adjust the
// options (listen address and data dir are filled in). It serves plain
// HTTP (PlainHTTP), so tests can speak http:// to it with any client; the
// TLS default is covered by tests that set TLS (WithTLS) and by test/e2e,
// which runs the real binaries with their defaults.
func StartServer(t testing.TB, opts ...func(*server.Config)) *ControlPlane {
	t.Helper()
	o := server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: Logger(),
		NodeLostGrace: 2 * time.Second, SessionTTL: 5, PlainHTTP: true}
	for _, f := range opts {
		f(&o)
	}
	srv, err := server.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	if srv.Bootstrap == nil {
		t.Fatal("a fresh data dir should bootstrap credentials")
	}
	cp := &ControlPlane{
		Server: srv,
		Admin:  client.New(client.Config{Servers: []string{srv.URL}, Token: srv.Bootstrap.AdminToken, TLS: srv.ClientTLS()}),
		Agent:  client.New(client.Config{Servers: []string{srv.URL}, Token: srv.Bootstrap.JoinToken, TLS: srv.ClientTLS()}),
	}
	WaitFor(t, 10*time.Second, "controller leadership", func() (bool, string) {
		return srv.Reconciler.IsLeader(), "not leader yet"
	})
	return cp
}

// WithTLS serves TLS, the default of orch server (StartServer's clients
// then trust the cluster CA).
func WithTLS(o *server.Config) { o.PlainHTTP = false }

// WaitFor polls cond every 20 ms until it holds or the deadline passes;
// the failure message includes cond's last explanation.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
}

// WaitTask polls a task until cond holds and returns it.
func WaitTask(t testing.TB, c *client.Client, id string, timeout time.Duration, cond func(*model.Task) bool) *model.Task {
	t.Helper()
	var got *model.Task
	WaitFor(t, timeout, "task "+id, func() (bool, string) {
		var err error
		got, err = c.GetTask(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		return cond(got), fmt.Sprintf("desired=%s last=%s node=%q placement=%q stop=%s %q",
			got.DesiredStatus, got.LastStatus, got.NodeName, got.PlacementMessage, got.StopCode, got.StoppedReason)
	})
	return got
}

// Mem returns a pointer to n, for memory fields.
func Mem(n int) *int { return &n }

// TaskDef builds a one-container task definition.
func TaskDef(family string, memory int) *model.TaskDefinition {
	return &model.TaskDefinition{Family: family, ContainerDefinitions: []model.ContainerDefinition{
		{Name: "app", Image: "fake", Memory: Mem(memory)},
	}}
}
