package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
)

// orch apply -f a.yaml -f b.yaml applied only b.yaml: -f was a plain string
// flag, so the last one won. Every -f is applied now, in the order given,
// files and directories alike, and a bad document in any of them stops all
// of them with its file:line and field path.
func TestApplyEveryFilenameInOrder(t *testing.T) {
	cp := testutil.StartServer(t)
	t.Setenv("ORCH_CONFIG", filepath.Join(t.TempDir(), "config.yaml"))
	t.Setenv("ORCH_SERVER", cp.URL)
	t.Setenv("ORCH_TOKEN", cp.Bootstrap.AdminToken)

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yaml", "kind: Queue\nQueueName: first\n")
	b := write("b.yaml", "kind: TaskDefinition\nfamily: second\ncontainerDefinitions: [{name: app, image: fake, memory: 64}]\n")
	write("more/x.yaml", "kind: Queue\nQueueName: third\n")
	c := write("c.yaml", "kind: Queue\nQueueName: fourth\n")

	orch := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRoot()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	out, err := orch("apply", "-f", a, "-f", b, "-f", filepath.Join(dir, "more"), "--filename", c)
	if err != nil {
		t.Fatalf("orch apply: %v\n%s", err, out)
	}
	want := "queue/first created\ntaskdefinition/second:1 created\nqueue/third created\nqueue/fourth created\n"
	if out != want {
		t.Errorf("orch apply printed:\n%s\nwant:\n%s", out, want)
	}
	ctx := context.Background()
	queues, err := cp.Admin.ListQueues(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range queues {
		names = append(names, q.Name)
	}
	for _, n := range []string{"first", "third", "fourth"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+n+" ") {
			t.Errorf("queue %s not on the server; queues: %q", n, names)
		}
	}
	if _, err := cp.Admin.GetTaskDefinition(ctx, "second:1"); err != nil {
		t.Errorf("task definition second:1 not on the server: %v", err)
	}

	// A comma-separated list works as in kubectl; the second apply is a no-op.
	out, err = orch("apply", "-f", a+","+c)
	if err != nil || out != "queue/first unchanged\nqueue/fourth unchanged\n" {
		t.Errorf("orch apply -f a,c: %v\n%s", err, out)
	}

	// One bad file among several: nothing is applied and the error names
	// the file, line, column and field path.
	bad := write("bad.yaml", "kind: TaskDefinition\nfamily: bad\ncontainerDefinitions:\n  - name: app\n    image: fake\n    memory: 1\n")
	d := write("d.yaml", "kind: Queue\nQueueName: never\n")
	out, err = orch("apply", "-f", d, "-f", bad)
	if want := bad + ":6:13: containerDefinitions[0].memory: must be at least 6 MiB, got 1"; err == nil || err.Error() != want {
		t.Errorf("apply with a bad file: error %v, want %s (output %q)", err, want, out)
	}
	queues, _ = cp.Admin.ListQueues(ctx, "never")
	if len(queues) != 0 {
		t.Errorf("queue never was created although another file was invalid")
	}

	if _, err := orch("apply"); err == nil || !strings.Contains(err.Error(), "-f is required") {
		t.Errorf("apply without -f: %v", err)
	}
}
