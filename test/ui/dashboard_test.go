// Package ui_test drives the dashboard in headless Chromium against a real
// server (embedded etcd) with agents on the fake runtime.
package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// needChromium finds Debian's chromium; in CI its absence fails the test.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: apt-get install -y chromium")
	}
	t.Skip("needs chromium: apt-get install -y chromium")
	return ""
}

type cluster struct {
	*testutil.ControlPlane
}

func startCluster(t *testing.T, nodes ...string) *cluster {
	t.Helper()
	cp := testutil.StartServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, name := range nodes {
		rt := fake.New(fake.Config{CPU: 2048, MemoryMiB: 4096, Images: []string{"fake"}})
		ag, err := agent.New(agent.Config{NodeName: name, Runtime: rt, Logger: testutil.Logger(),
			ControlPlane: client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken})})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { ag.Run(ctx) })
	}
	testutil.WaitFor(t, 20*time.Second, "nodes alive", func() (bool, string) {
		ns, err := cp.Admin.ListNodes(context.Background())
		alive := 0
		for _, n := range ns {
			if n.Alive {
				alive++
			}
		}
		return err == nil && alive == len(nodes), fmt.Sprintf("%d alive (%v)", alive, err)
	})
	return &cluster{cp}
}

func (c *cluster) apply(t *testing.T, docs ...string) {
	t.Helper()
	var req []wire.ApplyDocument
	for _, d := range docs {
		kind, spec, _ := strings.Cut(d, " ")
		req = append(req, wire.ApplyDocument{Kind: kind, Spec: json.RawMessage(spec)})
	}
	if _, err := c.Admin.Apply(context.Background(), req); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func browser(t *testing.T, chrome string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1366, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser (no timeout on this call)
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs steps with a 30 s deadline; a failure shows the page.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	within(t, ctx, 30*time.Second, what, steps...)
}

// within runs steps with a deadline of its own.
func within(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(cctx, steps...); err != nil {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		html, _ := chromedp.Run(sctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("%s: %v\npage: %.2000s", what, err, html)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(cctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func poll(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }

// shot saves a screenshot for docs/dashboard.md when ORCH_UI_SCREENSHOTS
// names a directory (make ui-screenshots).
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("ORCH_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDashboardInChromium(t *testing.T) {
	chrome := needChromium(t)
	c := startCluster(t, "node-a", "node-b", "node-c")
	c.apply(t,
		`TaskDefinition {"family":"web","containerDefinitions":[{"name":"web","image":"fake","memory":256,"cpu":256,"environment":[{"name":"ORCH_FAKE","value":"log_every=200ms,log=serving"},{"name":"QUEUE","value":"orders"}]}]}`,
		`Service {"serviceName":"web","taskDefinition":"web","desiredCount":2,"deploymentConfiguration":{"deploymentCircuitBreaker":{"enable":true,"rollback":true}}}`,
		`Queue {"QueueName":"orders-dlq"}`,
		`Queue {"QueueName":"orders","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:orders-dlq\",\"maxReceiveCount\":3}"}}`,
		`Topic {"Name":"order-events","subscriptions":[{"Protocol":"sqs","Endpoint":"orders"},{"Protocol":"https","Endpoint":"https://hooks.example/orders"}]}`,
	)
	testutil.WaitFor(t, 20*time.Second, "web running", func() (bool, string) {
		s, _, err := c.Admin.GetService(context.Background(), "web")
		return err == nil && s.RunningCount == 2, fmt.Sprintf("%+v %v", s, err)
	})
	ctx := browser(t, chrome)
	base := c.URL

	// Sign in: an unauthenticated page goes to the sign-in form.
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/ui/services"),
		chromedp.WaitVisible(chromedp.ID("#token")),
		chromedp.SendKeys(chromedp.ID("#token"), c.Bootstrap.AdminToken),
		chromedp.Submit(chromedp.ID("#token")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-service="web"]`)),
	)
	shot(t, ctx, "services")

	// Each page shows what the API returns.
	nodes, _ := c.Admin.ListNodes(context.Background())
	run(t, ctx, "fleet", chromedp.Navigate(base+"/ui/fleet"))
	for _, n := range nodes {
		within(t, ctx, 5*time.Second, "fleet shows "+n.Name, chromedp.WaitVisible(chromedp.CSS(`li[data-node="`+n.Name+`"]`)))
	}
	// Draining a node through the API marks its box, live.
	if _, err := c.Admin.SetNodeStatus(context.Background(), "node-c", "drain"); err != nil {
		t.Fatal(err)
	}
	within(t, ctx, 5*time.Second, "node-c marked draining", chromedp.WaitVisible(chromedp.CSS(`li.draining[data-node="node-c"]`)))
	shot(t, ctx, "fleet")
	tasks, _ := c.Admin.ListTasks(context.Background(), nil)
	run(t, ctx, "tasks", chromedp.Navigate(base+"/ui/tasks"))
	for _, tk := range tasks {
		within(t, ctx, 5*time.Second, "tasks shows "+tk.TaskID, chromedp.WaitVisible(chromedp.CSS(`tr[data-task="`+tk.TaskID+`"]`)))
	}

	// A task started through the API appears within a second, without a reload.
	get(t, ctx, "mark page", chromedp.Evaluate[bool](`window.__noReload = true`))
	run(t, ctx, "live status", chromedp.WaitVisible(chromedp.ID("livestatus")))
	testutil.WaitFor(t, 5*time.Second, "live stream connected", func() (bool, string) {
		return c.UI().Clients() > 0, "no SSE client yet"
	})
	started, err := c.Admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	within(t, ctx, 5*time.Second, "new task row", chromedp.WaitVisible(chromedp.CSS(`tr[data-task="`+started[0].TaskID+`"]`)))
	if d := time.Since(t0); d > time.Second {
		t.Errorf("the started task showed after %s; want within 1s", d)
	}
	if !get(t, ctx, "no reload", chromedp.Evaluate[bool](`window.__noReload === true`)) {
		t.Error("the page reloaded to show the task; want a live update")
	}
	shot(t, ctx, "tasks")

	// A task's page: containers and logs that keep streaming.
	id := started[0].TaskID
	testutil.WaitTask(t, c.Admin, id, 10*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning })
	run(t, ctx, "task page", chromedp.Navigate(base+"/ui/tasks/"+id), chromedp.WaitVisible(chromedp.ID("#logs")))
	within(t, ctx, 10*time.Second, "first log lines", poll(`document.getElementById("logs").textContent.includes("serving (tick")`))
	logs := get(t, ctx, "read logs", chromedp.TextContent(chromedp.ID("logs")))
	ticks := regexp.MustCompile(`tick (\d+)`).FindAllStringSubmatch(logs, -1)
	last := ticks[len(ticks)-1][1]
	var n int
	fmt.Sscan(last, &n)
	within(t, ctx, 5*time.Second, "new log lines", poll(fmt.Sprintf(`document.getElementById("logs").textContent.includes("(tick %d)")`, n+2)))
	shot(t, ctx, "task")

	// Scale from the UI changes the service.
	run(t, ctx, "scale",
		chromedp.Navigate(base+"/ui/services/web"),
		chromedp.WaitVisible(chromedp.ID("#desiredCount")),
		chromedp.SetValue(chromedp.ID("#desiredCount"), "4"),
		chromedp.Click(chromedp.ID("#scale")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	testutil.WaitFor(t, 5*time.Second, "desired 4", func() (bool, string) {
		s, _, err := c.Admin.GetService(context.Background(), "web")
		return err == nil && s.Desired() == 4, fmt.Sprintf("%v %v", s.DesiredCount, err)
	})
	within(t, ctx, 10*time.Second, "page shows 4 running", poll(`document.querySelector('dd[data-col="running"]').textContent.trim() === "4"`))
	shot(t, ctx, "service")

	run(t, ctx, "queues", chromedp.Navigate(base+"/ui/queues"), chromedp.WaitVisible(chromedp.CSS(`tr[data-queue="orders"]`)))
	// Messages sent through the API show in the open page (queues are
	// sampled every 2 s).
	send := func(n int) {
		for i := range n {
			if err := c.Admin.Do(context.Background(), "POST", "/v1/queues/orders/messages", wire.SendMessageRequest{Body: fmt.Sprint("order ", i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(3)
	within(t, ctx, 10*time.Second, "queue count live", poll(`document.querySelector('tr[data-queue="orders"] td[data-col="visible"]').textContent.trim() === "3"`))
	if os.Getenv("ORCH_UI_SCREENSHOTS") != "" { // a chart with some history
		for range 4 {
			send(4)
			if err := c.Admin.Do(context.Background(), "POST", "/v1/queues/orders/receive", wire.ReceiveMessagesRequest{Max: 3}, nil); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2500 * time.Millisecond) // one sample each; only for the picture
		}
		within(t, ctx, 10*time.Second, "chart", chromedp.WaitVisible(chromedp.CSS(`tr[data-queue="orders"] svg`)))
	}
	dlq := get(t, ctx, "dlq", chromedp.Text(chromedp.CSS(`tr[data-queue="orders"]`)))
	if !strings.Contains(dlq, "orders-dlq after 3 receives") {
		t.Errorf("orders row = %q; want its dead-letter queue", dlq)
	}
	// The service whose tasks name the queue (QUEUE=orders) shows beside it.
	users := get(t, ctx, "users", chromedp.Text(chromedp.CSS(`tr[data-queue="orders"] td[data-col="users"]`)))
	if !strings.HasPrefix(users, "web (") {
		t.Errorf("orders is used by %q; want the web service", users)
	}
	// The topic that delivers to the queue shows beside it.
	fed := get(t, ctx, "fed by", chromedp.Text(chromedp.CSS(`tr[data-queue="orders"] td[data-col="fedby"]`)))
	if strings.TrimSpace(fed) != "topic order-events" {
		t.Errorf("orders is fed by %q; want topic order-events", fed)
	}
	shot(t, ctx, "queues")

	// Topics: every subscription with its state and counters, as the API
	// reports them; a message published through the API counts as
	// delivered in the open page.
	run(t, ctx, "topics", chromedp.Navigate(base+"/ui/topics"), chromedp.WaitVisible(chromedp.CSS(`section[data-topic="order-events"]`)))
	for range 2 {
		if err := c.Admin.Do(context.Background(), "POST", "/v1/topics/order-events/publish", wire.PublishRequest{Message: "order placed"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	within(t, ctx, 10*time.Second, "delivered count live", poll(`(() => { const td = document.querySelector('section[data-topic="order-events"] tr[data-sub] td[data-col="delivered"]'); return td && td.textContent.trim() === "2"; })()`))
	var tv wire.TopicView
	if err := c.Admin.Do(context.Background(), "GET", "/v1/topics/order-events", nil, &tv); err != nil {
		t.Fatal(err)
	}
	if len(tv.Subscriptions) != 2 {
		t.Fatalf("API: %d subscriptions; want 2", len(tv.Subscriptions))
	}
	for _, sub := range tv.Subscriptions {
		sel := `section[data-topic="order-events"] tr[data-sub="` + sub.Arn + `"]`
		row := get(t, ctx, "subscription row", chromedp.Text(chromedp.CSS(sel)))
		for _, want := range []string{sub.Protocol, sub.State, fmt.Sprint(sub.Delivered)} {
			if !strings.Contains(row, want) {
				t.Errorf("subscription %s row %q lacks %q (the API's value)", sub.Arn, row, want)
			}
		}
		if sub.Protocol == "sqs" {
			href := get(t, ctx, "queue link", chromedp.AttributeValue(chromedp.CSS(sel+` td[data-col="endpoint"] a`), "href"))
			if !strings.HasSuffix(href.Value, "/ui/queues#queue-orders") {
				t.Errorf("queue subscriber links to %q; want the orders row of the Queues page", href.Value)
			}
		}
	}
	shot(t, ctx, "topics")
	run(t, ctx, "cluster", chromedp.Navigate(base+"/ui/cluster"), chromedp.WaitVisible(chromedp.CSS("table")))
	cl := get(t, ctx, "cluster text", chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"leader", "healthy", "embedded"} {
		if !strings.Contains(cl, want) {
			t.Errorf("cluster page lacks %q:\n%s", want, cl)
		}
	}
	shot(t, ctx, "cluster")

	// Functions: listed with their configuration; a function's page names
	// its environment variables and never shows a value.
	c.apply(t, `Function {"FunctionName":"receipt","PackageType":"Image","Code":{"ImageUri":"orch-example/receipt:latest"},"MemorySize":256,"Timeout":5,"Environment":{"Variables":{"API_KEY":"s3cr3t-never-shown"}}}`)
	run(t, ctx, "functions", chromedp.Navigate(base+"/ui/functions"), chromedp.WaitVisible(chromedp.CSS(`tr[data-function="receipt"]`)))
	if row := get(t, ctx, "function row", chromedp.Text(chromedp.CSS(`tr[data-function="receipt"]`))); !strings.Contains(row, "orch-example/receipt:latest") || !strings.Contains(row, "256 MB") {
		t.Errorf("function row %q lacks the image or the memory", row)
	}
	shot(t, ctx, "functions")
	run(t, ctx, "function page", chromedp.Navigate(base+"/ui/functions/receipt"), chromedp.WaitVisible(chromedp.CSS(`dd[data-col="env"]`)))
	if ft := get(t, ctx, "function page text", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(ft, "API_KEY") || strings.Contains(ft, "s3cr3t-never-shown") {
		t.Errorf("function page: want API_KEY named and its value hidden:\n%s", ft)
	}

	// A viewer sees no scale button, and the POST is refused.
	viewer, err := c.Admin.NewToken(context.Background(), "viewer", "alice")
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "viewer sign in",
		chromedp.Navigate(base+"/ui/services/web"),
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.ID("#token")),
		chromedp.SendKeys(chromedp.ID("#token"), viewer.Token),
		chromedp.Submit(chromedp.ID("#token")),
		chromedp.WaitVisible(chromedp.CSS(`li[data-node]`)),
		chromedp.Navigate(base+"/ui/services/web"),
		chromedp.WaitVisible(chromedp.CSS(`dd[data-col="desired"]`)),
	)
	buttons := get(t, ctx, "count buttons", chromedp.Evaluate[int](`document.querySelectorAll("#scale, #rollback").length`))
	if buttons != 0 {
		t.Errorf("a viewer sees %d write buttons; want none", buttons)
	}
	if code := postAs(t, base, viewer.Token, "/ui/services/web/scale", url.Values{"desiredCount": {"1"}}); code != http.StatusForbidden {
		t.Errorf("viewer POST scale: status %d; want 403", code)
	}
	if s, _, _ := c.Admin.GetService(context.Background(), "web"); s.Desired() != 4 {
		t.Errorf("desired = %d after a viewer's POST; want 4 unchanged", s.Desired())
	}

	// Auto scaling: a scalable target whose maximum is below the desired
	// count makes the autoscaler scale in; the Services page shows the
	// bounds and that activity, the service's page its history.
	run(t, ctx, "services", chromedp.Navigate(base+"/ui/services"), chromedp.WaitVisible(chromedp.CSS(`tr[data-service="web"]`)))
	c.apply(t, `ScalableTarget {"ResourceId":"service/default/web","MinCapacity":1,"MaxCapacity":3}`)
	var act model.ScalingActivity
	testutil.WaitFor(t, 20*time.Second, "scaled in to 3", func() (bool, string) {
		s, _, err := c.Admin.GetService(context.Background(), "web")
		if err != nil || s.Scaling == nil || len(s.Scaling.Activities) == 0 {
			return false, fmt.Sprint(err)
		}
		act = s.Scaling.Activities[len(s.Scaling.Activities)-1]
		return s.Desired() == 3, fmt.Sprint(s.Desired())
	})
	within(t, ctx, 10*time.Second, "scaling column live", poll(`(() => { const td = document.querySelector('tr[data-service="web"] td[data-col="scaling"]'); return td && td.textContent.includes("3 in 1–3"); })()`))
	col := get(t, ctx, "scaling column", chromedp.Text(chromedp.CSS(`tr[data-service="web"] td[data-col="scaling"]`)))
	if !strings.Contains(col, act.Description) {
		t.Errorf("services page scaling column %q lacks the API's last activity %q", col, act.Description)
	}
	shot(t, ctx, "services")
	run(t, ctx, "service scaling", chromedp.Navigate(base+"/ui/services/web"), chromedp.WaitVisible(chromedp.CSS(`table.activities`)))
	hist := get(t, ctx, "activity history", chromedp.Text(chromedp.CSS(`table.activities`)))
	if !strings.Contains(hist, act.Description) || !strings.Contains(hist, act.Cause) {
		t.Errorf("activity history %q lacks the API's activity %q (%q)", hist, act.Description, act.Cause)
	}
	shot(t, ctx, "service-scaling")
}

// postAs signs in with tok like a browser would (nonce cookie, session
// cookie, the page's CSRF field) and posts form to path.
func postAs(t *testing.T, base, tok, path string, form url.Values) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	body := func(resp *http.Response, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	field := func(html, name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("no %s field in:\n%.1500s", name, html)
		}
		return m[1]
	}
	login := body(hc.Get(base + "/ui/login"))
	page := body(hc.PostForm(base+"/ui/login", url.Values{"nonce": {field(login, "nonce")}, "token": {tok}, "next": {"/ui/services/web"}}))
	form.Set("csrf", field(page, "csrf"))
	resp, err := hc.PostForm(base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
