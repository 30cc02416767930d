package ui

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// fakeBackend is a cluster in memory: two nodes, a service with tasks.
type fakeBackend struct {
	mu     sync.Mutex
	scaled map[string]int
	svc    *model.Service
	// topicsErr: the topics live elsewhere (another replica owns them).
	topicsErr error
	// invocations of the receipt function (its figures change with it).
	invocations int64
}

func newFakeBackend() *fakeBackend {
	two := 2
	return &fakeBackend{scaled: map[string]int{}, svc: &model.Service{ServiceName: "web", TaskDefinition: "web:1", DesiredCount: &two, RunningCount: 2}}
}

func (b *fakeBackend) Nodes() []model.NodeView {
	return []model.NodeView{
		{Node: model.Node{Name: "node-a", Status: model.NodeActive, Alive: true, Capacity: model.Resources{CPU: 1024, MemoryMiB: 2048}}, Used: model.Resources{CPU: 512, MemoryMiB: 256}, RunningTasks: 1},
		{Node: model.Node{Name: "node-b", Status: model.NodeDraining, Alive: false, Capacity: model.Resources{CPU: 1024, MemoryMiB: 2048}}},
	}
}
func (b *fakeBackend) Tasks(f model.TaskFilter) []*model.Task {
	t := &model.Task{TaskID: "0123456789abcdef", Family: "web", Revision: 1, Group: model.ServiceGroup("web"), NodeName: "node-a",
		LastStatus: model.StatusRunning, DesiredStatus: model.StatusRunning, CreatedAt: time.Now()}
	if f.Match(t) {
		return []*model.Task{t}
	}
	return nil
}
func (b *fakeBackend) Task(_ context.Context, id string) (*model.Task, error) {
	if ts := b.Tasks(model.TaskFilter{}); id == ts[0].TaskID {
		return ts[0], nil
	}
	return nil, fmt.Errorf("task %s: %w", id, model.ErrNotFound)
}
func (b *fakeBackend) TaskDefinition(_ context.Context, ref string) (*model.TaskDefinition, error) {
	if ref != "web:1" {
		return nil, fmt.Errorf("task definition %s: %w", ref, model.ErrNotFound)
	}
	return &model.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []model.ContainerDefinition{
		{Name: "web", Environment: []model.KeyValuePair{{Name: "QUEUE", Value: "orders"}}}}}, nil
}
func (b *fakeBackend) Services(context.Context) ([]*model.Service, error) {
	return []*model.Service{b.svc}, nil
}
func (b *fakeBackend) Service(_ context.Context, name string) (*model.Service, []*model.Task, error) {
	if name != "web" {
		return nil, nil, fmt.Errorf("service %s: %w", name, model.ErrNotFound)
	}
	return b.svc, b.Tasks(model.TaskFilter{}), nil
}
func (b *fakeBackend) Scale(_ context.Context, name string, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.scaled[name] = n
	return nil
}
func (b *fakeBackend) Rollback(context.Context, string) error { return nil }
func (b *fakeBackend) Queues(context.Context) ([]wire.QueueView, error) {
	return []wire.QueueView{{Name: "orders", Visible: 7}}, nil
}
func (b *fakeBackend) Topics(context.Context) ([]wire.TopicView, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.topicsErr != nil {
		return nil, b.topicsErr
	}
	return []wire.TopicView{{Name: "events", Arn: "arn:aws:sns:us-east-1:000000000000:events", Subscriptions: []wire.SubscriptionView{
		{Arn: "arn:aws:sns:us-east-1:000000000000:events:s1", Protocol: "sqs", Endpoint: "arn:aws:sqs:us-east-1:000000000000:orders",
			State: "confirmed", Delivered: 41, Pending: 2, Failures: 3, DeadLettered: 1},
		{Arn: "arn:aws:sns:us-east-1:000000000000:events:s2", Protocol: "https", Endpoint: "https://hooks.example/x",
			State: "pending confirmation (https delivery is not built yet)"},
	}}}, nil
}
func (b *fakeBackend) Cluster(context.Context) (Cluster, error) {
	return Cluster{Servers: []string{"s1"}, Leader: "s1"}, nil
}
func (b *fakeBackend) Functions(context.Context) ([]FunctionInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	four := 4
	return []FunctionInfo{{Name: "receipt", Arn: "arn:aws:lambda:us-east-1:000000000000:function:receipt", Image: "orch-example/receipt:latest",
		MemoryMiB: 256, Timeout: 5, Reserved: &four, EnvNames: []string{"API_KEY", "SHOP"}, DeadLetterQueue: "receipt-dlq",
		LastModified: time.Now().Add(-time.Hour), Warm: 2, Inflight: 1,
		Usage: wire.FunctionUsage{Function: "receipt", Invocations: b.invocations, Errors: 3, Throttles: 1, ColdStarts: 2,
			P50Ms: 1.25, P99Ms: 9.5, BilledMs: 1234, GBSeconds: 0.3085, MaxMemoryUsedMB: 70}}}, nil
}
func (b *fakeBackend) Function(ctx context.Context, name string) (*FunctionDetail, error) {
	if name != "receipt" {
		return nil, fmt.Errorf("Function not found: %s: %w", name, model.ErrNotFound)
	}
	fs, _ := b.Functions(ctx)
	off := false
	return &FunctionDetail{FunctionInfo: fs[0],
		Mappings: []*model.StoredMapping{
			{EventSourceMapping: model.EventSourceMapping{UUID: "m-1", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:orders", FunctionName: "receipt",
				BatchSize: 10, FunctionResponseTypes: []string{"ReportBatchItemFailures"}}, State: "Enabled"},
			{EventSourceMapping: model.EventSourceMapping{UUID: "m-2", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:refunds", FunctionName: "receipt",
				BatchSize: 5, Enabled: &off, ScalingConfig: &model.ScalingConfig{MaximumConcurrency: 3}}, State: "Disabled"},
		},
		Reports: []string{"REPORT RequestId: r-2\tDuration: 1.20 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 70 MB"},
	}, nil
}
func (b *fakeBackend) Logs(context.Context, string, bool, int) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("hello\n")), nil
}

var tokens = map[string]Viewer{
	"admintok":  {Name: "admin", Role: "admin", CanWrite: true},
	"viewertok": {Name: "alice", Role: "viewer"},
}

func startUI(t *testing.T) (*UI, *fakeBackend, *httptest.Server) {
	t.Helper()
	b := newFakeBackend()
	u := New(Config{Backend: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CoalesceWindow: 50 * time.Millisecond, Authenticate: func(_ context.Context, tok string) (Viewer, error) {
		if v, ok := tokens[tok]; ok {
			return v, nil
		}
		return Viewer{}, model.ErrNotFound
	}})
	ctx, cancel := context.WithCancel(context.Background())
	go u.Run(ctx)
	srv := httptest.NewServer(u)
	t.Cleanup(func() { srv.Close(); cancel() })
	return u, b, srv
}

// browserClient keeps cookies and does not follow redirects, so the test
// sees each one.
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func field(t *testing.T, html, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no %s field in %.800s", name, html)
	}
	return m[1]
}

func signIn(t *testing.T, c *http.Client, base, tok string) {
	t.Helper()
	_, login := do(t, c, "GET", base+"/ui/login", nil)
	resp, body := do(t, c, "POST", base+"/ui/login", url.Values{"nonce": {field(t, login, "nonce")}, "token": {tok}, "next": {"/ui/services/web"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", resp.StatusCode, body)
	}
}

func TestSignIn(t *testing.T) {
	_, _, srv := startUI(t)
	c := browserClient()

	resp, _ := do(t, c, "GET", srv.URL+"/ui/fleet", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login?next=%2Fui%2Ffleet" {
		t.Fatalf("signed out GET /ui/fleet: %d to %q; want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/ui/events", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out event stream: %d; want 401", resp.StatusCode)
	}

	_, login := do(t, c, "GET", srv.URL+"/ui/login", nil)
	nonce := field(t, login, "nonce")
	resp, body := do(t, c, "POST", srv.URL+"/ui/login", url.Values{"nonce": {"forged"}, "token": {"admintok"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or was not sent by this page") {
		t.Errorf("sign in with a forged nonce: %d; want 403 with an explanation", resp.StatusCode)
	}
	_, login = do(t, c, "GET", srv.URL+"/ui/login", nil)
	nonce = field(t, login, "nonce")
	resp, body = do(t, c, "POST", srv.URL+"/ui/login", url.Values{"nonce": {nonce}, "token": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Token: not a valid admin or viewer token.") {
		t.Errorf("sign in with a wrong token: %d %q; want 401 saying the token is not valid", resp.StatusCode, body)
	}

	_, login = do(t, c, "GET", srv.URL+"/ui/login", nil)
	resp, _ = do(t, c, "POST", srv.URL+"/ui/login", url.Values{"nonce": {field(t, login, "nonce")}, "token": {"admintok"}, "next": {"https://evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/fleet" {
		t.Errorf("sign in with an outside next: %d to %q; want 303 to /ui/fleet", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Value == "admintok" || strings.Contains(resp.Header.Get("Location"), "admintok") {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, a random id (not the token)", session)
	}
	resp, body = do(t, c, "GET", srv.URL+"/ui/fleet", nil)
	for _, want := range []string{`data-node="node-a"`, `data-node="node-b"`, "lost", "1 active, 0 draining, 1 lost", `<meta http-equiv="refresh" content="10">`} {
		if !strings.Contains(body, want) {
			t.Errorf("fleet page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q; want scripts from the dashboard only", csp)
	}
	_, frag := do(t, c, "GET", srv.URL+"/ui/fleet", nil, "X-UI-Fragment", "1")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-node="node-a"`) {
		t.Errorf("fragment: want only the live region, got %.300s", frag)
	}
}

func TestPagesRender(t *testing.T) {
	_, _, srv := startUI(t)
	c := browserClient()
	signIn(t, c, srv.URL, "viewertok")
	for path, want := range map[string]string{
		"/ui/services":                    `data-service="web"`,
		"/ui/services/web":                `data-col="desired">2<`,
		"/ui/tasks?service=web":           `data-task="0123456789abcdef"`,
		"/ui/tasks/0123456789abcdef":      `id="logs"`,
		"/ui/nodes/node-a":                `data-task="0123456789abcdef"`,
		"/ui/cluster":                     "leader",
		"/ui/tasks/0123456789abcdef/logs": "hello",
	} {
		resp, body := do(t, c, "GET", srv.URL+path, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d; want 200 with %q in:\n%.600s", path, resp.StatusCode, want, body)
		}
	}
	for path, want := range map[string]int{
		"/ui/tasks/nope":       http.StatusNotFound,
		"/ui/services/nope":    http.StatusNotFound,
		"/ui/nodes/nope":       http.StatusNotFound,
		"/ui/tasks?status=BAD": http.StatusBadRequest,
		"/ui/nothing":          http.StatusNotFound,
	} {
		if resp, body := do(t, c, "GET", srv.URL+path, nil); resp.StatusCode != want {
			t.Errorf("GET %s: %d %q; want %d", path, resp.StatusCode, body, want)
		}
	}
}

// TestTopicsAndScaling: the Topics page shows each subscription's state
// and counters and links a queue subscriber to its queue; the Queues page
// says which topic feeds a queue; the Services page shows the scaling
// bounds and the last activity, a service's page the history.
func TestTopicsAndScaling(t *testing.T) {
	u, b, srv := startUI(t)
	t0 := time.Now().Add(-time.Minute)
	b.svc.Scaling = &model.ServiceScaling{MinCapacity: 1, MaxCapacity: 5, Activities: []model.ScalingActivity{
		{Description: "Setting desired count to 3.", Cause: "backlog 30 per task above target 10", StartTime: t0, StatusCode: "Successful"},
		{Description: "Setting desired count to 2.", Cause: "backlog 1 per task below target 10", StartTime: t0.Add(30 * time.Second), StatusCode: "Successful"},
	}}
	u.sampleQueues(context.Background())
	c := browserClient()
	signIn(t, c, srv.URL, "viewertok")
	wants := map[string][]string{
		"/ui/topics": {`data-topic="events"`, `<a href="/ui/queues#queue-orders">orders</a>`, `data-col="delivered">41<`,
			`data-col="pending">2<`, `data-col="failed">3<`, `data-col="deadlettered">1`, "pending confirmation (https delivery is not built yet)",
			"https://hooks.example/x", `href="/ui/topics"`},
		"/ui/queues":       {`id="queue-orders"`, `topic <a href="/ui/topics#topic-events">events</a>`},
		"/ui/services":     {`2 in 1–5`, "Setting desired count to 2."},
		"/ui/services/web": {"between 1 and 5 tasks", "Scaling activity", "backlog 30 per task above target 10"},
	}
	for path, want := range wants {
		resp, body := do(t, c, "GET", srv.URL+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q in:\n%.3000s", path, w, body)
			}
		}
	}
	// On a replica that does not own the topics, the page says where they are.
	b.mu.Lock()
	b.topicsErr = fmt.Errorf("%w: the topics live on http://other:8080; open its dashboard", ErrElsewhere)
	b.mu.Unlock()
	u.sampleQueues(context.Background())
	if resp, body := do(t, c, "GET", srv.URL+"/ui/topics", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "the topics live on http://other:8080") {
		t.Errorf("topics page on another replica: %d; want 200 naming the owner in:\n%.1500s", resp.StatusCode, body)
	}
	// History newest first.
	_, body := do(t, c, "GET", srv.URL+"/ui/services/web", nil)
	if i, j := strings.Index(body, "Setting desired count to 2."), strings.Index(body, "Setting desired count to 3."); i < 0 || j < 0 || i > j {
		t.Errorf("scaling activity not newest first (2 at %d, 3 at %d)", i, j)
	}
}

func TestWritesNeedCSRFAndARoleThatMayWrite(t *testing.T) {
	_, b, srv := startUI(t)
	viewer, admin := browserClient(), browserClient()
	signIn(t, viewer, srv.URL, "viewertok")
	signIn(t, admin, srv.URL, "admintok")

	_, vpage := do(t, viewer, "GET", srv.URL+"/ui/services/web", nil)
	if strings.Contains(vpage, `id="scale"`) || strings.Contains(vpage, `id="rollback"`) {
		t.Error("a viewer's service page shows write buttons")
	}
	resp, body := do(t, viewer, "POST", srv.URL+"/ui/services/web/scale", url.Values{"csrf": {field(t, vpage, "csrf")}, "desiredCount": {"5"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may only look") {
		t.Errorf("viewer scale: %d %q; want 403", resp.StatusCode, body)
	}

	_, apage := do(t, admin, "GET", srv.URL+"/ui/services/web", nil)
	if !strings.Contains(apage, `id="scale"`) {
		t.Fatal("an admin's service page lacks the scale button")
	}
	if resp, _ := do(t, admin, "POST", srv.URL+"/ui/services/web/scale", url.Values{"desiredCount": {"5"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scale without the csrf field: %d; want 403", resp.StatusCode)
	}
	if resp, _ := do(t, admin, "POST", srv.URL+"/ui/services/web/scale", url.Values{"csrf": {field(t, vpage, "csrf")}, "desiredCount": {"5"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scale with another session's csrf: %d; want 403", resp.StatusCode)
	}
	csrf := field(t, apage, "csrf")
	resp, body = do(t, admin, "POST", srv.URL+"/ui/services/web/scale", url.Values{"csrf": {csrf}, "desiredCount": {"many"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `desiredCount: want a whole number from 0 to 5000, got "many"`) {
		t.Errorf("scale to many: %d %q; want 400 explaining the field", resp.StatusCode, body)
	}
	resp, _ = do(t, admin, "POST", srv.URL+"/ui/services/web/scale", url.Values{"csrf": {csrf}, "desiredCount": {"5"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("admin scale: %d; want 303 back to the service", resp.StatusCode)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.scaled["web"] != 5 {
		t.Errorf("backend scaled %v; want web to 5", b.scaled)
	}
}

func TestEventsCoalesceBursts(t *testing.T) {
	u, _, srv := startUI(t)
	c := browserClient()
	signIn(t, c, srv.URL, "viewertok")
	req, _ := http.NewRequest("GET", srv.URL+"/ui/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	deadline := time.Now().Add(5 * time.Second)
	for u.Clients() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	start := time.Now()
	for range 1000 {
		u.Notify(KindTasks)
	}
	u.Notify(KindNodes)
	var events []string
	timeout := time.After(3 * time.Second)
	for len(events) == 0 {
		select {
		case l := <-lines:
			if d, ok := strings.CutPrefix(l, "data: "); ok {
				// The UI's first queue and topic sample may arrive on its
				// own just before the burst (a slow start on a loaded
				// machine): it is not the burst's event.
				if strings.TrimSpace(strings.NewReplacer("queues", "", "topics", "").Replace(d)) == "" {
					continue
				}
				events = append(events, d)
			}
		case <-timeout:
			t.Fatal("no event within 3s of a change")
		}
	}
	if time.Since(start) > time.Second {
		t.Errorf("event after %s; want within a second", time.Since(start))
	}
	// (The first queue and topic sample may land in the same window.)
	if got := strings.TrimSpace(strings.NewReplacer("queues ", "", "topics", "").Replace(events[0])); got != "nodes tasks" {
		t.Errorf("first event %q; want one event naming both kinds", events[0])
	}
	// The burst is spent: nothing more arrives without a new change.
	select {
	case l := <-lines:
		if strings.HasPrefix(l, "data: ") {
			t.Errorf("a second event %q for one burst", l)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/tasks?node=a": "/ui/tasks?node=a", "//evil.example/ui/": "/ui/fleet", "https://x/ui/": "/ui/fleet",
		"/ui/login": "/ui/fleet", "/v1/tasks": "/ui/fleet", "/ui/\\evil": "/ui/fleet", "": "/ui/fleet",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q; want %q", in, got, want)
		}
	}
}

// countingBackend counts how often the fleet page's data is read.
type countingBackend struct {
	*fakeBackend
	mu    sync.Mutex
	nodes int
	qerr  error
}

func (b *countingBackend) Nodes() []model.NodeView {
	b.mu.Lock()
	b.nodes++
	b.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // a slow render, so requests overlap
	return b.fakeBackend.Nodes()
}

func (b *countingBackend) Queues(ctx context.Context) ([]wire.QueueView, error) {
	if b.qerr != nil {
		return nil, b.qerr
	}
	return b.fakeBackend.Queues(ctx)
}

func TestPagesShareOneRenderPerEvent(t *testing.T) {
	b := &countingBackend{fakeBackend: newFakeBackend(), qerr: fmt.Errorf("%w: the queues live on http://10.0.0.2:7474", ErrElsewhere)}
	u := New(Config{Backend: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Authenticate: func(context.Context, string) (Viewer, error) {
		return Viewer{Name: "a", Role: "viewer"}, nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go u.Run(ctx)
	srv := httptest.NewServer(u)
	defer srv.Close()
	c := browserClient()
	signIn(t, c, srv.URL, "any")
	waitGen := func(after uint64) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for u.hub.generation() <= after {
			if time.Now().After(deadline) {
				t.Fatal("no event")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitGen(0) // the first queue sample's event, so the requests below share one generation

	var wg sync.WaitGroup
	bodies := make([]string, 10)
	for i := range bodies {
		wg.Go(func() { _, bodies[i] = do(t, c, "GET", srv.URL+"/ui/fleet", nil, "X-UI-Fragment", "1") })
	}
	wg.Wait()
	for i, body := range bodies {
		if !strings.Contains(body, `data-node="node-a"`) {
			t.Errorf("page %d got %.200q", i, body)
		}
	}
	b.mu.Lock()
	n := b.nodes
	b.mu.Unlock()
	if n != 1 {
		t.Errorf("10 pages refreshing after one event read the nodes %d times; want 1", n)
	}
	gen := u.hub.generation()
	u.Notify(KindNodes) // a new event: the next refresh renders again
	waitGen(gen)
	do(t, c, "GET", srv.URL+"/ui/fleet", nil, "X-UI-Fragment", "1")
	b.mu.Lock()
	n = b.nodes
	b.mu.Unlock()
	if n != 2 {
		t.Errorf("after a change the nodes were read %d times; want 2", n)
	}

	// On a replica that does not own the queues, the page says where they are.
	_, body := do(t, c, "GET", srv.URL+"/ui/queues", nil)
	if !strings.Contains(body, "the queues live on http://10.0.0.2:7474") {
		t.Errorf("queues page on a non-owner: %.500s", body)
	}
}

// TestFunctionsPages: a viewer reads the Functions list (configuration and
// figures) and a function's page (mappings with their state, the latest
// REPORT lines); environment variables show by name, never by value; a
// change in the figures is a live "functions" event.
func TestFunctionsPages(t *testing.T) {
	u, b, srv := startUI(t)
	c := browserClient()
	signIn(t, c, srv.URL, "viewertok")
	wants := map[string][]string{
		"/ui/functions": {`data-function="receipt"`, `<a href="/ui/functions/receipt">receipt</a>`, "orch-example/receipt:latest",
			"256 MB", "(70 used)", "5 s", `data-col="concurrency">4 reserved`, "(1 running)", `data-col="warm">2<`, `data-col="errors">3<`,
			`data-col="throttles">1<`, "1.25 ms", "9.50 ms", `data-col="gbs">0.308500<`, `href="/ui/functions"`},
		"/ui/functions/receipt": {"arn:aws:lambda:us-east-1:000000000000:function:receipt", "<code>API_KEY</code>, <code>SHOP</code>",
			"(values are not shown)", `data-mapping="m-1"`, `<a href="/ui/queues#queue-orders">orders</a>`, `<span class="badge ok">Enabled</span>`,
			`<span class="badge warn">Disabled</span>`, "reported", "whole batch", `data-mapping="m-2"`, "Max Memory Used: 70 MB",
			`<a href="/ui/queues#queue-receipt-dlq">receipt-dlq</a>`, "2 environments warm", "cold starts 2"},
	}
	for path, want := range wants {
		resp, body := do(t, c, "GET", srv.URL+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %.500s", path, resp.StatusCode, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q in:\n%.4000s", path, w, body)
			}
		}
	}
	if resp, body := do(t, c, "GET", srv.URL+"/ui/functions/nope", nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Function not found") {
		t.Errorf("GET an unknown function: %d %q; want 404 saying so", resp.StatusCode, body)
	}
	if resp, _ := do(t, browserClient(), "GET", srv.URL+"/ui/functions", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /ui/functions signed out: %d; want a redirect to sign in", resp.StatusCode)
	}

	// A new invocation changes the figures: open pages hear "functions".
	req, _ := http.NewRequest("GET", srv.URL+"/ui/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for u.Clients() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	u.sampleFunctions(context.Background())
	b.mu.Lock()
	b.invocations++
	b.mu.Unlock()
	u.sampleFunctions(context.Background())
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if d, ok := strings.CutPrefix(l, "data: "); ok && strings.Contains(d, KindFunctions) {
				return
			}
		case <-timeout:
			t.Fatal("no functions event within 5 s of a change in the figures")
		}
	}
}
