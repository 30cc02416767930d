package ui_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// needFirefox finds Debian's firefox-esr; in CI its absence fails the test.
func needFirefox(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("firefox is not installed: apt-get install -y firefox-esr")
	}
	t.Skip("needs firefox: apt-get install -y firefox-esr")
	return ""
}

// bidi drives a headless Firefox over WebDriver BiDi, the protocol
// Firefox itself serves (--remote-debugging-port): Debian ships no
// geckodriver, and this needs none.
type bidi struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex
	next int
	ctx  string // the top-level browsing context
}

// startFirefox starts headless Firefox with a fresh profile and opens a
// BiDi session on its only tab.
func startFirefox(t *testing.T, ff string) *bidi {
	t.Helper()
	cmd := exec.Command(ff, "--headless", "--no-remote", "--profile", t.TempDir(), "--remote-debugging-port=0",
		"--width=1366", "--height=900", "about:blank")
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start firefox: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var ws string
	select {
	case ws = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("firefox did not start its WebDriver BiDi listener within 60s")
	}
	conn, _, err := websocket.DefaultDialer.Dial(ws+"/session", nil)
	if err != nil {
		t.Fatalf("connect to firefox at %s: %v", ws, err)
	}
	t.Cleanup(func() { conn.Close() })
	b := &bidi{t: t, conn: conn}
	b.call("session.new", map[string]any{"capabilities": map[string]any{}})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	b.decode(b.call("browsingContext.getTree", map[string]any{}), &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox has no tab")
	}
	b.ctx = tree.Contexts[0].Context
	return b
}

// call sends one command and waits for its answer (events in between are
// skipped).
func (b *bidi) call(method string, params any) json.RawMessage {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	id := b.next
	b.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	b.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		var msg struct {
			ID      int             `json:"id"`
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := b.conn.ReadJSON(&msg); err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		if msg.ID != id {
			continue
		}
		if msg.Type == "error" {
			b.t.Fatalf("%s: %s: %s", method, msg.Error, msg.Message)
		}
		return msg.Result
	}
}

func (b *bidi) decode(raw json.RawMessage, v any) {
	b.t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("decode %s: %v", raw, err)
	}
}

func (b *bidi) navigate(url string) {
	b.t.Helper()
	b.call("browsingContext.navigate", map[string]any{"context": b.ctx, "url": url, "wait": "complete"})
}

// eval evaluates a JavaScript expression in the page and returns its
// value as JSON ("true", "\"text\"").
func (b *bidi) eval(expr string) string {
	b.t.Helper()
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.decode(b.call("script.evaluate", map[string]any{"expression": expr, "target": map[string]any{"context": b.ctx}, "awaitPromise": false}), &r)
	if r.Type == "exception" {
		b.t.Fatalf("script %q: %s", expr, r.ExceptionDetails.Text)
	}
	return string(r.Result.Value)
}

// waitTrue polls expr until it is true or d passes; it returns how long
// that took.
func (b *bidi) waitTrue(d time.Duration, what, expr string) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		if b.eval(expr) == "true" {
			return time.Since(start)
		}
		if time.Since(start) > d {
			b.t.Fatalf("firefox: %s: not within %s; page: %.1500s", what, d, b.eval(`location.href + " " + (document.querySelector("main") || document.body).innerText`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the whole page for docs/dashboard.md when
// ORCH_UI_SCREENSHOTS names a directory.
func (b *bidi) screenshot(name string) {
	dir := os.Getenv("ORCH_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	var r struct {
		Data string `json:"data"`
	}
	b.decode(b.call("browsingContext.captureScreenshot", map[string]any{"context": b.ctx, "origin": "document"}), &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "firefox-"+name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestDashboardInFirefox: the pages render in Firefox what the API
// returns, and update live (server-sent events) without a reload.
func TestDashboardInFirefox(t *testing.T) {
	ff := needFirefox(t)
	c := startCluster(t, "ff-node-a", "ff-node-b")
	c.apply(t,
		`TaskDefinition {"family":"web","containerDefinitions":[{"name":"web","image":"fake","memory":256,"cpu":256,"environment":[{"name":"QUEUE","value":"orders"}]}]}`,
		`Service {"serviceName":"web","taskDefinition":"web","desiredCount":2}`,
		`Queue {"QueueName":"orders"}`,
		`Topic {"Name":"order-events","subscriptions":[{"Protocol":"sqs","Endpoint":"orders"}]}`,
	)
	testutil.WaitFor(t, 20*time.Second, "web running", func() (bool, string) {
		s, _, err := c.Admin.GetService(context.Background(), "web")
		return err == nil && s.RunningCount == 2, fmt.Sprintf("%+v %v", s, err)
	})
	b := startFirefox(t, ff)
	base := c.URL

	// Sign in through the form, as a person would.
	b.navigate(base + "/ui/services")
	b.waitTrue(10*time.Second, "sign-in form", `!!document.getElementById("token")`)
	b.eval(`(() => { document.getElementById("token").value = ` + jsString(c.Bootstrap.AdminToken) + `; document.getElementById("token").form.submit(); return true; })()`)
	b.waitTrue(15*time.Second, "services after sign-in", `!!document.querySelector('tr[data-service="web"]')`)
	if got := b.eval(`document.querySelector('tr[data-service="web"] td[data-col="running"]').textContent.trim()`); got != `"2"` {
		t.Errorf("services page: web running = %s; want \"2\" (the API's count)", got)
	}
	b.screenshot("services")

	// Each page renders what the API returns.
	nodes, _ := c.Admin.ListNodes(context.Background())
	b.navigate(base + "/ui/fleet")
	for _, n := range nodes {
		b.waitTrue(5*time.Second, "fleet shows "+n.Name, `!!document.querySelector('li[data-node="`+n.Name+`"]')`)
	}
	b.screenshot("fleet")
	b.navigate(base + "/ui/queues")
	b.waitTrue(10*time.Second, "queues", `!!document.querySelector('tr[data-queue="orders"] td[data-col="fedby"]')`)
	if got := b.eval(`document.querySelector('tr[data-queue="orders"] td[data-col="fedby"]').textContent.trim()`); got != `"topic order-events"` {
		t.Errorf("queues page: orders fed by %s; want topic order-events", got)
	}
	b.screenshot("queues")
	b.navigate(base + "/ui/topics")
	b.waitTrue(10*time.Second, "topics", `!!document.querySelector('section[data-topic="order-events"] tr[data-sub]')`)
	// Live: a message published through the API shows as delivered.
	if err := c.Admin.Do(context.Background(), "POST", "/v1/topics/order-events/publish", wire.PublishRequest{Message: "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	b.waitTrue(10*time.Second, "delivered count live", `document.querySelector('section[data-topic="order-events"] td[data-col="delivered"]').textContent.trim() === "1"`)
	b.screenshot("topics")
	b.navigate(base + "/ui/cluster")
	b.waitTrue(10*time.Second, "cluster", `document.querySelector("main").innerText.includes("leader")`)
	b.screenshot("cluster")

	// A task started through the API appears in the open Tasks page
	// without a reload.
	b.navigate(base + "/ui/tasks")
	b.waitTrue(10*time.Second, "tasks", `!!document.querySelector('tr[data-task]')`)
	b.eval(`(() => { window.__noReload = true; return true; })()`)
	before := c.UI().Clients()
	testutil.WaitFor(t, 10*time.Second, "firefox's live stream connected", func() (bool, string) {
		return c.UI().Clients() > 0 && strings.Contains(b.eval(`document.getElementById("livestatus").textContent`), "Live"), fmt.Sprint(before, " clients")
	})
	started, err := c.Admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "web"})
	if err != nil {
		t.Fatal(err)
	}
	took := b.waitTrue(10*time.Second, "new task row", `!!document.querySelector('tr[data-task="`+started[0].TaskID+`"]')`)
	t.Logf("firefox showed the started task after %s", took)
	if b.eval(`window.__noReload === true`) != "true" {
		t.Error("the page reloaded to show the task; want a live update")
	}
	b.screenshot("tasks")
}
