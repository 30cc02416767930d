package agent

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

func TestLogsEndpoint(t *testing.T) {
	cp := newFakeCP()
	rt := newRuntime()
	h := startAgent(t, rt, cp)
	task, def := newTask("node-1",
		ctrDef("app", "log_lines=3,log=hello"),
		ctrDef("job", "log_lines=0,log_every=10ms,log=tick", nonEssential),
	)
	cp.run(task, def)
	cp.waitStatus(t, task.TaskID, model.StatusRunning)
	cp.mu.Lock()
	reg := cp.registers[0]
	cp.mu.Unlock()
	base := "http://" + reg.Address

	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	logs := "/logs/" + task.TaskID

	if code, body := get("/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	for _, tok := range []string{"", "wrong", reg.CallbackToken + "x"} {
		if code, _ := get(logs+"?container=app", tok); code != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", tok, code)
		}
	}
	code, body := get(logs+"?container=app", reg.CallbackToken)
	if code != 200 || !strings.Contains(body, "hello (1/3)\nhello (2/3)\nhello (3/3)\n") {
		t.Errorf("logs: %d %q", code, body)
	}
	if code, body := get(logs+"?container=app&tail=1", reg.CallbackToken); code != 200 || body != "hello (3/3)\n" {
		t.Errorf("tail=1: %d %q", code, body)
	}
	if code, body := get(logs+"?container=app&since=1h&timestamps=1", reg.CallbackToken); code != 200 || !strings.Contains(body, "Z hello (1/3)") {
		t.Errorf("since=1h: %d %q", code, body)
	}
	if code, body := get(logs+"?container=app&since="+url.QueryEscape("2999-01-01T00:00:00Z"), reg.CallbackToken); code != 200 || body != "" {
		t.Errorf("since future: %d %q", code, body)
	}
	if code, body := get(logs, reg.CallbackToken); code != http.StatusBadRequest || !strings.Contains(body, "app, job") {
		t.Errorf("no container with two: %d %q", code, body)
	}
	if code, _ := get(logs+"?container=nope", reg.CallbackToken); code != http.StatusNotFound {
		t.Errorf("unknown container: %d", code)
	}
	if code, _ := get("/logs/nosuchtask", reg.CallbackToken); code != http.StatusNotFound {
		t.Errorf("unknown task: %d", code)
	}
	if code, _ := get(logs+"?container=app&tail=x", reg.CallbackToken); code != http.StatusBadRequest {
		t.Errorf("bad tail: %d", code)
	}
	if code, _ := get(logs+"?container=app&since=yesterday", reg.CallbackToken); code != http.StatusBadRequest {
		t.Errorf("bad since: %d", code)
	}
	// follow streams lines as they come, until the container exits.
	req, _ := http.NewRequest("GET", base+logs+"?container=job&follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+reg.CallbackToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("follow: %v after %q", err, line)
		}
		if strings.Contains(line, "(tick 2)") {
			break
		}
	}
	got := cp.task(task.TaskID)
	if err := rt.Exit(ctrOf(got, "job").RuntimeID, 0); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil || !strings.HasSuffix(string(rest), "exited with code 0\n") {
		t.Errorf("follow after exit: %v %q", err, rest)
	}
	_ = h
}
