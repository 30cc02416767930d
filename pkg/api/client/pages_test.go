package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
)

// TestListTasksReadsLargePages: the client reads a list in the server's
// largest pages (maxResults=1000), since the server filters and orders
// the whole list for each page, and follows nextToken to the end.
func TestListTasksReadsLargePages(t *testing.T) {
	const total = 2500
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		requests = append(requests, r.URL.RawQuery)
		max, err := strconv.Atoi(q.Get("maxResults"))
		if err != nil || max < 1 || max > 1000 {
			http.Error(w, `{"code":"InvalidParameter","message":"maxResults"}`, http.StatusBadRequest)
			return
		}
		start := 0
		if tok := q.Get("nextToken"); tok != "" {
			start, _ = strconv.Atoi(tok)
		}
		end := min(start+max, total)
		var page []*model.Task
		for i := start; i < end; i++ {
			page = append(page, &model.Task{TaskID: fmt.Sprintf("t%04d", i), LastStatus: q.Get("lastStatus")})
		}
		next := ""
		if end < total {
			next = strconv.Itoa(end)
		}
		json.NewEncoder(w).Encode(map[string]any{"tasks": page, "nextToken": next})
	}))
	defer srv.Close()
	c := client.New(client.Config{Servers: []string{srv.URL}, Token: "t"})
	tasks, err := c.ListTasks(context.Background(), map[string][]string{"lastStatus": {"RUNNING"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != total || tasks[0].TaskID != "t0000" || tasks[total-1].TaskID != "t2499" || tasks[1].LastStatus != "RUNNING" {
		t.Fatalf("got %d tasks (%v ... %v), want t0000 to t2499 RUNNING", len(tasks), tasks[0], tasks[len(tasks)-1])
	}
	if len(requests) != 3 {
		t.Errorf("%d requests (%q), want 3 pages of up to 1000", len(requests), requests)
	}
}
