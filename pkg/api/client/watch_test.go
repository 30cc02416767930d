package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// TestWatchTasks follows a task through the agent protocol with the real
// server: every status the agent reports arrives, by full id, prefix or ARN.
func TestWatchTasks(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agent := testutil.StartHandAgent(t, cp.Agent, "n1", 2048, 4096, nil)
	doc, _ := json.Marshal(testutil.TaskDef("web", 128))
	if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: doc}}); err != nil {
		t.Fatal(err)
	}
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	id := tasks[0].TaskID
	testutil.WaitFor(t, 30*time.Second, "assignment on n1", func() (bool, string) {
		_, ok := agent.Assignment(id)
		return ok, "not assigned"
	})

	// The first watch sees the task go up; statuses only move forward, so
	// the later ones (by prefix and by ARN) see where it ended.
	for _, tt := range []struct {
		ref  string
		want []string
	}{
		{id, []string{model.StatusPending, model.StatusActivating, model.StatusRunning}},
		{id[:8], []string{model.StatusRunning}},
		{model.TaskArnFor(id), []string{model.StatusRunning}},
	} {
		ref := tt.ref
		t.Run(ref, func(t *testing.T) {
			var seen []string
			err := cp.Admin.WatchTasks(ctx, []string{ref}, func(tk *model.Task) (bool, error) {
				if tk.TaskID != id {
					t.Errorf("watch of %s delivered task %s", ref, tk.TaskID)
				}
				if len(seen) == 0 || seen[len(seen)-1] != tk.LastStatus {
					seen = append(seen, tk.LastStatus)
				}
				switch tk.LastStatus {
				case model.StatusPending:
					agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusActivating})
				case model.StatusActivating:
					agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusRunning})
				}
				return tk.LastStatus == model.StatusRunning, nil
			})
			if err != nil {
				t.Fatalf("WatchTasks(%s): %v", ref, err)
			}
			if !slices.Equal(seen, tt.want) {
				t.Errorf("statuses seen %v, want %v", seen, tt.want)
			}
			if got, err := cp.Admin.GetTask(ctx, ref); err != nil || got.TaskID != id {
				t.Errorf("GetTask(%s) = %v, %v; want task %s", ref, got, err, id)
			}
		})
	}
}

func TestWatchTasksUnknownTask(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cp.Admin.WatchTasks(ctx, []string{"nosuchtask"}, func(*model.Task) (bool, error) { return true, nil })
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("watch of an unknown task: err %v, want a 404 right away", err)
	}
}

// TestWatchTasksReopens: a stream that ends (the server's request deadline,
// a restart) is opened again and the watch goes on from current states.
func TestWatchTasksReopens(t *testing.T) {
	var opened atomic.Int32
	statuses := []string{model.StatusPending, model.StatusRunning}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/tasks/watch" || r.URL.Query().Get("ids") != "t1,t2" {
			http.Error(w, `{"code":"NotFound","message":"unexpected `+r.URL.String()+`"}`, http.StatusNotFound)
			return
		}
		n := int(opened.Add(1)) - 1
		enc := json.NewEncoder(w)
		enc.Encode(wire.TaskEvent{Type: wire.TaskEventPing})
		// Each stream carries one status, then ends.
		enc.Encode(wire.TaskEvent{Type: wire.TaskEventState, Task: &model.Task{TaskID: "t1", LastStatus: statuses[min(n, 1)]}})
	}))
	defer srv.Close()
	c := client.New(client.Config{Servers: []string{srv.URL}, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	err := c.WatchTasks(ctx, []string{"t1", "t2"}, func(tk *model.Task) (bool, error) {
		got = append(got, tk.LastStatus)
		return tk.LastStatus == model.StatusRunning, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{model.StatusPending, model.StatusRunning}; !slices.Equal(got, want) || opened.Load() != 2 {
		t.Fatalf("got %v over %d streams, want %v over 2", got, opened.Load(), want)
	}
}

func TestWatchTasksDeleted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(wire.TaskEvent{Type: wire.TaskEventDeleted, TaskID: "t1"})
	}))
	defer srv.Close()
	c := client.New(client.Config{Servers: []string{srv.URL}, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.WatchTasks(ctx, []string{"t1"}, func(*model.Task) (bool, error) { return false, nil })
	if !errors.Is(err, client.ErrTaskDeleted) {
		t.Fatalf("err %v, want ErrTaskDeleted", err)
	}
}
