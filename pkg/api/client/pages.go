package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// maxPageSize is the server's largest page (api.MaxPageSize).
const maxPageSize = 1000

// listAll follows a /v1 list's pages (nextToken) and returns every item
// under field. A list that changes between pages is read as ECS's List*
// are: each item at most once, items added meanwhile maybe not at all.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values, field string) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	if q.Get("maxResults") == "" {
		// The largest page the server gives: the server filters and
		// orders the whole list for every page, so reading 10,000 tasks
		// by 100 costs it ten times what reading them by 1,000 does.
		q.Set("maxResults", strconv.Itoa(maxPageSize))
	}
	var all []T
	for pages := 0; ; pages++ {
		var page map[string]json.RawMessage
		if err := c.Do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return all, err
		}
		var items []T
		if raw, ok := page[field]; ok {
			if err := json.Unmarshal(raw, &items); err != nil {
				return all, fmt.Errorf("decode %s of GET %s: %w", field, path, err)
			}
		}
		all = append(all, items...)
		var next string
		if raw, ok := page["nextToken"]; ok {
			_ = json.Unmarshal(raw, &next)
		}
		if next == "" || pages > 1_000_000 {
			return all, nil
		}
		q.Set("nextToken", next)
	}
}
