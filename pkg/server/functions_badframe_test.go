package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/lambdart"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// corruptingProxy passes an agent's calls to the server, rewriting the
// lines of its invocation stream with corrupt (a line of one invocation
// made unreadable on its way), and counts how often the stream was opened.
type corruptingProxy struct {
	srv     *httptest.Server
	opens   atomic.Int32
	corrupt func(line []byte) []byte
}

func startCorruptingProxy(t *testing.T, target string, corrupt func([]byte) []byte) *corruptingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &corruptingProxy{corrupt: corrupt}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.HasSuffix(resp.Request.URL.Path, "/invocations") {
			p.opens.Add(1)
			resp.Body = &lineRewriter{in: bufio.NewReader(resp.Body), body: resp.Body, corrupt: corrupt}
		}
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

// lineRewriter hands on a stream line by line, each through corrupt.
type lineRewriter struct {
	in      *bufio.Reader
	body    io.Closer
	corrupt func([]byte) []byte
	pending []byte
}

func (l *lineRewriter) Read(b []byte) (int, error) {
	if len(l.pending) == 0 {
		line, err := l.in.ReadBytes('\n')
		if len(line) == 0 {
			return 0, err
		}
		l.pending = l.corrupt(line)
	}
	n := copy(b, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

func (l *lineRewriter) Close() error { return l.body.Close() }

// TestUnreadableInvocationFailsOnlyItself sends an agent one invocation
// whose line arrives malformed, one without its function's spec and one
// whose line is over the stream's limit (a proxy corrupts them on the way) while another invocation runs
// there: each of them fails at once with its own clear error (the
// handler did not run), the running one answers its caller, and the
// stream stays open for the next invocations.
func TestUnreadableInvocationFailsOnlyItself(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "receipt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/apps/receipt").CombinedOutput(); err != nil {
		t.Fatalf("building the receipt handler: %v\n%s", err, out)
	}
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyManifest(t, cp.Admin, `{"kind":"Function","spec":{"FunctionName":"receipt","Code":{"ImageUri":"`+bin+`"},"Timeout":60}}`)

	const malformed, oversized, nospec = `{"echo":"malformed on the way"}`, `{"echo":"oversized on the way"}`, `{"echo":"spec dropped on the way"}`
	b64 := func(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s))) }
	proxy := startCorruptingProxy(t, cp.URL, func(line []byte) []byte {
		switch {
		case bytes.Contains(line, b64(malformed)):
			return bytes.Replace(line, []byte(`,"function":`), []byte(`,"function"`), 1)
		case bytes.Contains(line, b64(nospec)):
			i, j := bytes.Index(line, []byte(`,"function":`)), bytes.Index(line, []byte(`,"payload":"`))
			return append(append(line[:i:i], `,"function":null`...), line[j:]...)
		case bytes.Contains(line, b64(oversized)):
			end := bytes.LastIndexByte(line, '}')
			pad := append([]byte(`,"pad":"`), bytes.Repeat([]byte("a"), wire.MaxInvocationLine)...)
			return append(append(append(line[:end:end], pad...), `"`...), line[end:]...)
		}
		return line
	})

	const node = "badframe-node"
	u := &unreachableResults{Client: client.New(client.Config{Servers: []string{proxy.srv.URL}, Token: cp.Bootstrap.JoinToken})}
	actx, stop := context.WithCancel(ctx)
	ag, err := agent.New(agent.Config{NodeName: node, Runtime: fake.New(fake.Config{}), ControlPlane: u,
		Logger: testutil.Logger(), StatsInterval: -1,
		Functions: &agent.FunctionsConfig{Launcher: lambdart.ProcessLauncher{}, ListenAddr: "127.0.0.1:0", RuntimeHost: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = ag.Run(actx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	invoke := func(payload string) <-chan invokeAnswer { return invokeAsync(ctx, cp.Admin, "receipt", payload) }
	wait := func(c <-chan invokeAnswer) invokeAnswer { t.Helper(); return waitAnswer(t, c) }
	testutil.WaitFor(t, 30*time.Second, "an invocation through "+node, func() (bool, string) {
		res, err := cp.Admin.Invoke(ctx, "receipt", wire.InvokeRequest{Payload: json.RawMessage(`{"echo":"warm"}`)})
		if err != nil {
			return false, err.Error()
		}
		return res.Node == node, "answered by " + res.Node
	})
	u.taken.Store(0)
	proxy.opens.Store(0)

	slow := invoke(`{"id":"slow","drink":"tea","price":1,"sleepMs":3000}`)
	testutil.WaitFor(t, 20*time.Second, "the slow invocation started", func() (bool, string) {
		return u.taken.Load() == 1, ""
	})
	sent := time.Now()
	bad, large, specless := invoke(malformed), invoke(oversized), invoke(nospec)

	var ce *client.Error
	a := wait(bad)
	if !errors.As(a.err, &ce) || ce.Status != http.StatusBadGateway || !strings.Contains(ce.Message, "could not read the invocation") ||
		!strings.Contains(ce.Message, "malformed line") || strings.Contains(ce.Message, "on the way") {
		t.Fatalf("the malformed invocation: %v %+v, want a 502 saying the agent could not read it (without its payload)", a.err, a.res)
	}
	a = wait(specless)
	if !errors.As(a.err, &ce) || ce.Status != http.StatusBadGateway || !strings.Contains(ce.Message, "without its function's spec") {
		t.Fatalf("the invocation without its spec: %v %+v, want a 502 saying so", a.err, a.res)
	}
	a = wait(large)
	if !errors.As(a.err, &ce) || ce.Status != http.StatusRequestEntityTooLarge || ce.Code != "RequestTooLargeException" ||
		!strings.Contains(ce.Message, "over the 9437184 byte limit") {
		t.Fatalf("the oversized invocation: %v %+v, want a 413 RequestTooLargeException naming the limit", a.err, a.res)
	}
	if d := a.at.Sub(sent); d > 20*time.Second {
		t.Fatalf("the unreadable invocations failed %s after they were sent, want at once (not at a timeout)", d)
	}
	a = wait(slow)
	if a.err != nil || a.res.Node != node || !strings.Contains(string(a.res.Payload), "RECEIPT order=slow") {
		t.Fatalf("the invocation running on the agent meanwhile: %v %+v, want its receipt", a.err, a.res)
	}
	a = wait(invoke(`{"echo":"after"}`))
	if a.err != nil || string(a.res.Payload) != `"after"` || a.res.Node != node {
		t.Fatalf("an invocation after them: %v %+v", a.err, a.res)
	}
	if n := proxy.opens.Load(); n != 0 {
		t.Fatalf("the agent opened its invocation stream %d more times, want none (the unreadable lines did not break it)", n)
	}
}
