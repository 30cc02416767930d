package server_test

// Tests for issue 12 (hardening under load, faults and bad input): each
// reproduces one of its findings against a real in-process server.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// getJSON GETs path with the admin token and decodes the answer.
func getJSON(t *testing.T, cp *testutil.ControlPlane, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", cp.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+cp.Bootstrap.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// Item 3: GET /v1/tasks answered every task at once (21 MB for 11,000).
func TestListsArePaginated(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	for range 2 {
		if _, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web", Count: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		var page struct {
			Tasks []struct {
				TaskID string `json:"taskId"`
			} `json:"tasks"`
			NextToken string `json:"nextToken"`
		}
		q := url.Values{"maxResults": {"300"}}
		if token != "" {
			q.Set("nextToken", token)
		}
		if code := getJSON(t, cp, "/v1/tasks?"+q.Encode(), &page); code != 200 {
			t.Fatalf("page %d: status %d", pages, code)
		}
		pages++
		if len(page.Tasks) > 300 {
			t.Fatalf("page %d has %d tasks, over maxResults=300", pages, len(page.Tasks))
		}
		for _, tk := range page.Tasks {
			if seen[tk.TaskID] {
				t.Fatalf("task %s on two pages", tk.TaskID)
			}
			seen[tk.TaskID] = true
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	if len(seen) != 2000 || pages != 7 {
		t.Errorf("walked %d pages with %d tasks; want 7 pages, 2000 tasks", pages, len(seen))
	}
	var all struct {
		Tasks     []json.RawMessage `json:"tasks"`
		NextToken string            `json:"nextToken"`
	}
	getJSON(t, cp, "/v1/tasks", &all)
	if len(all.Tasks) != 1000 || all.NextToken == "" {
		t.Errorf("without maxResults: %d tasks, nextToken %q; want the first 1000 and a token", len(all.Tasks), all.NextToken)
	}
	// The Go client (and so the CLI) follows the pages.
	tasks, err := cp.Admin.ListTasks(ctx, nil)
	if err != nil || len(tasks) != 2000 {
		t.Errorf("client.ListTasks: %d tasks, %v; want 2000", len(tasks), err)
	}
	for _, bad := range []string{"maxResults=0", "maxResults=1001", "maxResults=x", "nextToken=!!"} {
		var e wire.Error
		if code := getJSON(t, cp, "/v1/tasks?"+bad, &e); code != 400 || !strings.Contains(e.Message, strings.Split(bad, "=")[0]) {
			t.Errorf("%s: got %d %q, want 400 naming the parameter", bad, code, e.Message)
		}
	}
	for _, list := range []string{"/v1/nodes", "/v1/services", "/v1/taskdefinitions"} {
		var page map[string]json.RawMessage
		if code := getJSON(t, cp, list+"?maxResults=1", &page); code != 200 {
			t.Errorf("%s?maxResults=1: status %d", list, code)
		}
		if _, ok := page["nextToken"]; !ok {
			t.Errorf("%s has no nextToken field", list)
		}
	}
}
