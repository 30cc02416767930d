package server_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// GET /v1/queues and /v1/topics answer pages like the other /v1 lists
// (maxResults, nextToken), and the Go client (so the CLI) follows them.
func TestQueueAndTopicListsArePaginated(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	adm := cp.Bootstrap.AdminToken
	var docs []wire.ApplyDocument
	const n = 101 // more than a default page (100), so the client must follow
	want := map[string][]string{}
	for i := range n {
		if code, body := postJSON(t, cp, "/v1/queues", adm, fmt.Sprintf(`{"QueueName":"q%03d"}`, i)); code != 200 && code != 201 {
			t.Fatalf("create queue q%03d: %d %s", i, code, body)
		}
		docs = append(docs, wire.ApplyDocument{Kind: "Topic", Spec: []byte(fmt.Sprintf(`{"Name":"t%03d"}`, i))})
		want["q"] = append(want["q"], fmt.Sprintf("q%03d", i))
		want["t"] = append(want["t"], fmt.Sprintf("t%03d", i))
	}
	if _, err := cp.Admin.Apply(ctx, docs); err != nil {
		t.Fatal(err)
	}

	// Page by page, by hand: 40 + 40 + 21, in name order, then no token.
	walk := func(path string, page func(token string) ([]string, string)) {
		var names []string
		token, pages := "", 0
		for {
			got, next := page(token)
			names, pages = append(names, got...), pages+1
			if next == "" || pages > 10 {
				break
			}
			token = next
		}
		if fmt.Sprint(names) != fmt.Sprint(want[path]) || pages != 3 {
			t.Errorf("%s pages of 40: %v in %d pages; want all %d in name order in 3 pages", path, names, pages, n)
		}
	}
	walk("q", func(token string) ([]string, string) {
		var l wire.QueueList
		if code := getJSON(t, cp, "/v1/queues?maxResults=40&nextToken="+url.QueryEscape(token), &l); code != 200 {
			t.Fatalf("GET /v1/queues: %d", code)
		}
		var names []string
		for _, q := range l.Queues {
			names = append(names, q.Name)
		}
		return names, l.NextToken
	})
	walk("t", func(token string) ([]string, string) {
		var l wire.TopicList
		if code := getJSON(t, cp, "/v1/topics?maxResults=40&nextToken="+url.QueryEscape(token), &l); code != 200 {
			t.Fatalf("GET /v1/topics: %d", code)
		}
		var names []string
		for _, tp := range l.Topics {
			names = append(names, tp.Name)
		}
		return names, l.NextToken
	})
	for _, p := range []string{"/v1/queues?maxResults=5000", "/v1/topics?maxResults=x", "/v1/queues?nextToken=%25%25"} {
		var e wire.Error
		if code := getJSON(t, cp, p, &e); code != 400 || e.Message == "" {
			t.Errorf("GET %s: %d %+v; want 400 naming the parameter", p, code, e)
		}
	}

	// The client follows every page.
	qs, err := cp.Admin.ListQueues(ctx, "")
	if err != nil || len(qs) != n {
		t.Errorf("client ListQueues: %d queues, %v; want %d", len(qs), err, n)
	}
	ts, err := cp.Admin.ListTopics(ctx)
	if err != nil || len(ts) != n {
		t.Errorf("client ListTopics: %d topics, %v; want %d", len(ts), err, n)
	}
}
