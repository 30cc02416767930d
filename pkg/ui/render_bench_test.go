package ui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// bigBackend is 200 nodes and 5,000 running tasks.
type bigBackend struct {
	*fakeBackend
	nodes []model.NodeView
	tasks []*model.Task
}

func newBigBackend() *bigBackend {
	b := &bigBackend{fakeBackend: newFakeBackend()}
	now := time.Now()
	for i := range 200 {
		b.nodes = append(b.nodes, model.NodeView{Node: model.Node{Name: fmt.Sprintf("node-%03d", i), Status: model.NodeActive, Alive: true,
			Capacity: model.Resources{CPU: 4096, MemoryMiB: 8192}}, Used: model.Resources{CPU: 400, MemoryMiB: 800}, RunningTasks: 25})
	}
	for i := range 5000 {
		b.tasks = append(b.tasks, &model.Task{TaskID: fmt.Sprintf("%032x", i), Family: "ui", Revision: 1, NodeName: b.nodes[i%200].Name,
			LastStatus: model.StatusRunning, DesiredStatus: model.StatusRunning, CreatedAt: now.Add(-time.Duration(i) * time.Millisecond)})
	}
	return b
}

func (b *bigBackend) Nodes() []model.NodeView { return b.nodes }
func (b *bigBackend) Tasks(f model.TaskFilter) []*model.Task {
	var out []*model.Task
	for _, t := range b.tasks {
		if f.Match(t) {
			out = append(out, t)
		}
	}
	return out
}

// BenchmarkFragment is the cost of one live update of a page (its live
// region rendered) on a cluster of 200 nodes and 5,000 tasks, without the
// shared cache (each iteration is a new generation).
func BenchmarkFragment(b *testing.B) {
	for _, page := range []string{"/ui/tasks", "/ui/fleet"} {
		b.Run(page, func(b *testing.B) {
			u := New(Config{Backend: newBigBackend(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Authenticate: func(context.Context, string) (Viewer, error) { return Viewer{Name: "a", Role: "admin"}, nil }})
			ss := u.sess.create(Viewer{Name: "a", Role: "admin"}, "t")
			b.ReportAllocs()
			for b.Loop() {
				u.hub.mu.Lock()
				u.hub.gen++
				u.hub.mu.Unlock()
				req := httptest.NewRequest("GET", page, nil)
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: ss.id})
				req.Header.Set("X-UI-Fragment", "1")
				w := httptest.NewRecorder()
				u.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
