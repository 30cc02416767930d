package api

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// pageAll walks items page by page as a client does and returns what it read.
func pageAll(t *testing.T, items []string, max int, pager func([]string, PageRequest) ([]string, string)) []string {
	t.Helper()
	var got []string
	p := PageRequest{Max: max}
	for pages := 0; ; pages++ {
		page, next := pager(items, p)
		if len(page) > max {
			t.Fatalf("page %d has %d items, over max %d", pages, len(page), max)
		}
		got = append(got, page...)
		if next == "" {
			return got
		}
		after, err := ParsePage(mustRequest(t, "/v1/x?nextToken="+next))
		if err != nil {
			t.Fatalf("nextToken %q of page %d does not parse: %v", next, pages, err)
		}
		p.After = after.After
		if pages > len(items) {
			t.Fatal("pagination does not end")
		}
	}
}

// Every item is read once and in key order, whether the list comes sorted
// (the fast path, the task list) or not (a sort per page).
func TestPageReadsEveryItemOnceInOrder(t *testing.T) {
	var want []string
	for i := range 1234 {
		want = append(want, fmt.Sprintf("item-%05d", i))
	}
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	id := func(s string) string { return s }
	pagers := map[string]func([]string, PageRequest) ([]string, string){
		"Page":     func(items []string, p PageRequest) ([]string, string) { return Page(items, id, p) },
		"PageFunc": func(items []string, p PageRequest) ([]string, string) { return PageFunc(items, strings.Compare, id, p) },
	}
	for pname, pager := range pagers {
		for _, max := range []int{1, 7, 100, 1000} {
			for name, items := range map[string][]string{"sorted": want, "shuffled": shuffled} {
				if got := pageAll(t, items, max, pager); !slices.Equal(got, want) {
					t.Errorf("%s, %s by %d: read %d items, first %q; want the %d items in key order", pname, name, max, len(got), got[:min(3, len(got))], len(want))
				}
			}
		}
		if page, next := pager([]string{}, PageRequest{Max: 10}); len(page) != 0 || next != "" {
			t.Errorf("%s, empty list: page %v, next %q; want none and no token", pname, page, next)
		}
		// A token of an item that was deleted meanwhile still resumes after it.
		page, _ := pager(want, PageRequest{Max: 2, After: "item-00010x"})
		if !slices.Equal(page, []string{"item-00011", "item-00012"}) {
			t.Errorf("%s, after a vanished key: %v, want item-00011 and item-00012", pname, page)
		}
	}
	// PageFunc sorts a copy: the caller's list (often a cache's) is left as it was.
	before := slices.Clone(shuffled)
	PageFunc(shuffled, strings.Compare, id, PageRequest{Max: 5})
	if !slices.Equal(before, shuffled) {
		t.Error("PageFunc reordered the caller's slice")
	}
}

// NewestFirst orders tasks exactly as their NewestFirstKey keys do (which
// PageFunc relies on): newest first, then by id.
func TestNewestFirstMatchesKeyOrder(t *testing.T) {
	base := time.Date(2026, 11, 30, 20, 0, 0, 123456789, time.UTC)
	type task struct {
		at time.Time
		id string
	}
	var ts []task
	for i := range 500 {
		// Few distinct times, so that ties are ordered by id; a monotonic
		// reading (time.Now) must not change the order.
		at := base.Add(time.Duration(rand.IntN(50)) * time.Millisecond)
		if i%3 == 0 {
			at = time.Now().Add(-time.Duration(rand.IntN(50)) * time.Millisecond)
		}
		ts = append(ts, task{at, fmt.Sprintf("%08x-%d", rand.Uint32(), i)})
	}
	slices.SortFunc(ts, func(a, b task) int { return NewestFirst(a.at, a.id, b.at, b.id) })
	for i := 1; i < len(ts); i++ {
		a, b := NewestFirstKey(ts[i-1].at, ts[i-1].id), NewestFirstKey(ts[i].at, ts[i].id)
		if a >= b {
			t.Fatalf("NewestFirst and NewestFirstKey disagree at %d: key %q >= %q", i, a, b)
		}
	}
	if ts[0].at.Before(ts[len(ts)-1].at) {
		t.Errorf("first task %v is older than the last %v; want newest first", ts[0].at, ts[len(ts)-1].at)
	}
}

// BenchmarkPageTasks is one page of 1,000 out of 10,000 tasks in list
// order, as each request of a client reading the whole list costs.
func BenchmarkPageTasks(b *testing.B) {
	type task struct {
		at time.Time
		id string
	}
	base := time.Now()
	ts := make([]task, 10000)
	for i := range ts {
		ts[i] = task{base.Add(-time.Duration(i) * time.Millisecond), fmt.Sprintf("%032x", i)}
	}
	key := func(t task) string { return NewestFirstKey(t.at, t.id) }
	cmp := func(a, b task) int { return NewestFirst(a.at, a.id, b.at, b.id) }
	_, next := PageFunc(ts, cmp, key, PageRequest{Max: 1000})
	after, _ := ParsePage(mustRequest(b, "/v1/tasks?nextToken="+next))
	b.ReportAllocs()
	for b.Loop() {
		PageFunc(ts, cmp, key, PageRequest{Max: 1000, After: after.After})
	}
}

func mustRequest(t testing.TB, target string) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodGet, target, nil)
}
