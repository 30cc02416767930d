package autoscaling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// listBackend serves fixed lists; only the list calls are used here.
type listBackend struct {
	Backend
	targets  []*model.ScalableTarget
	policies []*model.ScalingPolicy
}

func (b listBackend) Targets(context.Context, ...string) ([]*model.ScalableTarget, error) {
	return b.targets, nil
}

func (b listBackend) Policies(context.Context, string) ([]*model.ScalingPolicy, error) {
	return b.policies, nil
}

// The two /v1 lists page with ?maxResults and ?nextToken as every other
// /v1 list does (docs/api.md), so `curl '/v1/scalingpolicies?maxResults=1'`
// answers one item and a token that leads to the rest.
func TestRESTListsPage(t *testing.T) {
	b := listBackend{
		targets: []*model.ScalableTarget{{ResourceId: "service/default/web"}, {ResourceId: "service/default/api"}},
		policies: []*model.ScalingPolicy{
			{ResourceId: "service/default/web", PolicyName: "cpu"},
			{ResourceId: "service/default/web-b", PolicyName: "a"},
			{ResourceId: "service/default/web", PolicyName: "backlog"},
		},
	}
	mux := http.NewServeMux()
	for pattern, h := range RESTRoutes(b) {
		mux.HandleFunc(pattern, h)
	}
	get := func(url string, into any) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: %d %q: %v", url, rec.Code, rec.Body, err)
		}
		return rec.Code
	}

	var names []string
	next := ""
	for range 5 {
		var page struct {
			ScalingPolicies []*model.ScalingPolicy `json:"scalingPolicies"`
			NextToken       string                 `json:"nextToken"`
		}
		if code := get("/v1/scalingpolicies?maxResults=1&nextToken="+next, &page); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if len(page.ScalingPolicies) != 1 {
			t.Fatalf("a page of maxResults=1 has %d policies", len(page.ScalingPolicies))
		}
		p := page.ScalingPolicies[0]
		names = append(names, p.ResourceId+" "+p.PolicyName)
		if next = page.NextToken; next == "" {
			break
		}
	}
	want := []string{"service/default/web backlog", "service/default/web cpu", "service/default/web-b a"}
	if len(names) != len(want) || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("pages gave %q, want %q", names, want)
	}

	var tp struct {
		ScalableTargets []*model.ScalableTarget `json:"scalableTargets"`
		NextToken       string                  `json:"nextToken"`
	}
	get("/v1/scalabletargets?maxResults=1", &tp)
	if len(tp.ScalableTargets) != 1 || tp.ScalableTargets[0].ResourceId != "service/default/api" || tp.NextToken == "" {
		t.Fatalf("first page of targets: %d items, token %q", len(tp.ScalableTargets), tp.NextToken)
	}

	var e struct{ Code, Message string }
	if code := get("/v1/scalabletargets?maxResults=0", &e); code != http.StatusBadRequest || e.Code != "BadRequest" {
		t.Fatalf("maxResults=0: %d %+v, want 400 BadRequest", code, e)
	}
	if code := get("/v1/scalingpolicies?nextToken=!!", &e); code != http.StatusBadRequest {
		t.Fatalf("bad nextToken: %d %+v, want 400", code, e)
	}
}

// A missing object's message says what is missing in words, without the
// domain package's sentinel text.
func TestNotFoundMessage(t *testing.T) {
	err := fmt.Errorf("scaling policy nope of service web: %w", model.ErrNotFound)
	if got, want := toWire(err).Message, "scaling policy nope of service web does not exist"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	if got := toWire(err).Code; got != "ObjectNotFoundException" {
		t.Fatalf("code %q", got)
	}
}
