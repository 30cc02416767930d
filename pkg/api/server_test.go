package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// tokens is an in-memory TokenStore.
type tokens map[string]auth.Identity

func (t tokens) TokenInfo(_ context.Context, tok string) (auth.Identity, error) {
	id, ok := t[tok]
	if !ok {
		return auth.Identity{}, model.ErrNotFound
	}
	return id, nil
}
func (t tokens) PutToken(_ context.Context, tok string, role auth.Role, name string) error {
	t[tok] = auth.Identity{Role: role, Name: name}
	return nil
}
func (t tokens) SetNodeToken(_ context.Context, node, tok string) error {
	t[tok] = auth.Identity{Role: auth.RoleNode, Name: node}
	return nil
}

// widgets is a feature with one route, one kind and one protocol, the way
// pkg/server's features plug in.
type widgets struct {
	kind    string
	applied []string
}

func (f *widgets) Routes(r Routes) {
	r.Handle("GET /v1/"+strings.ToLower(f.kind)+"s", auth.RoleAdmin, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"widgets": f.applied})
	})
	r.Protocol(func(r *http.Request) bool { return r.Header.Get("X-Protocol") == f.kind },
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, f.kind+" protocol") }))
}

func (f *widgets) Kinds() []Kind { return []Kind{{Name: f.kind, Applier: widgetApplier{f}}} }

type widgetApplier struct{ f *widgets }

func (a widgetApplier) Decode(spec json.RawMessage) (any, error) {
	var v struct {
		Name string `json:"name"`
	}
	if err := strictJSON(spec, &v); err != nil {
		return nil, err
	}
	if v.Name == "" {
		return nil, &model.FieldError{Path: "name", Message: "is required"}
	}
	return v.Name, nil
}

func (a widgetApplier) Apply(_ context.Context, obj any) (wire.ApplyResult, error) {
	a.f.applied = append(a.f.applied, obj.(string))
	return wire.ApplyResult{Kind: a.f.kind, Name: obj.(string), Action: "created"}, nil
}

func newTestServer(t *testing.T, features ...Feature) (*httptest.Server, tokens) {
	t.Helper()
	toks := tokens{"adm": {Role: auth.RoleAdmin, Name: "admin"}, "n1": {Role: auth.RoleNode, Name: "n1"}}
	srv := httptest.NewServer(New(Config{Features: features, Tokens: toks}).Handler())
	t.Cleanup(srv.Close)
	return srv, toks
}

func newGatedServer(t *testing.T, gate *awsproto.Gate, features ...Feature) *httptest.Server {
	t.Helper()
	toks := tokens{"adm": {Role: auth.RoleAdmin, Name: "admin"}}
	srv := httptest.NewServer(New(Config{Features: features, Tokens: toks, AWSGate: gate}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestFeaturesContributeRoutesKindsAndProtocols(t *testing.T) {
	gadgets, widgets := &widgets{kind: "Gadget"}, &widgets{kind: "Widget"}
	srv, _ := newTestServer(t, widgets, gadgets)

	apply := `{"documents": [{"kind": "Widget", "spec": {"name": "a"}}, {"kind": "Gadget", "spec": {"name": "b"}}]}`
	if code, body := call(t, srv, "POST", "/v1/apply", "adm", apply); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	if len(widgets.applied) != 1 || len(gadgets.applied) != 1 {
		t.Errorf("applied widgets %v, gadgets %v; want one each", widgets.applied, gadgets.applied)
	}

	for _, tc := range []struct {
		name, method, path, token, body string
		header                          []string
		wantCode                        int
		wantBody                        string
	}{
		{"feature route", "GET", "/v1/widgets", "adm", "", nil, 200, `"a"`},
		{"feature route needs a token", "GET", "/v1/widgets", "", "", nil, 401, `"code": "Unauthorized"`},
		{"feature route denies a node token", "GET", "/v1/widgets", "n1", "", nil, 403, "may only call agent endpoints"},
		{"protocol outside /v1", "POST", "/", "", "", []string{"X-Protocol", "Gadget"}, 200, "Gadget protocol"},
		{"a protocol does not claim /v1", "GET", "/v1/gadgets", "adm", "", []string{"X-Protocol", "Gadget"}, 200, `"b"`},
		{"unknown kinds are listed in feature order", "POST", "/v1/apply", "adm", `{"documents": [{"kind": "Thing", "spec": {}}]}`, nil, 400,
			`unknown kind \"Thing\"; known kinds: Widget, Gadget`},
		{"a kind's validation error names the document", "POST", "/v1/apply", "adm", `{"documents": [{"kind": "Widget", "spec": {}}]}`, nil, 400,
			`documents[0]: name: is required`},
		{"unknown endpoint", "GET", "/v1/nothing", "adm", "", nil, 404, "no such endpoint: GET /v1/nothing"},
		{"the bare URL says what is served", "GET", "/", "", "", nil, 404, `"code": "NotFound"`},
		{"unknown path outside /v1", "GET", "/nothing", "", "", nil, 404, "the dashboard at /ui"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, srv, tc.method, tc.path, tc.token, tc.body, tc.header...)
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Errorf("%s %s: got %d %s\nwant %d with %s", tc.method, tc.path, code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestTwoFeaturesWithOneKindPanic(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "Widget") {
			t.Errorf("New with a duplicate kind: recovered %v, want a panic naming Widget", p)
		}
	}()
	New(Config{Features: []Feature{&widgets{kind: "Widget"}, &widgets{kind: "Widget"}}, Tokens: tokens{}})
}
