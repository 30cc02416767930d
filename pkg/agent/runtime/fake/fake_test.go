package fake

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

func managed(extra map[string]string) map[string]string {
	l := map[string]string{runtime.LabelManaged: "true"}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func mustRun(t *testing.T, rt *Runtime, name, script string, mods ...func(*runtime.ContainerSpec)) string {
	t.Helper()
	ctx := context.Background()
	if err := rt.EnsureImage(ctx, "img", "if-not-present"); err != nil {
		t.Fatal(err)
	}
	spec := runtime.ContainerSpec{Name: name, Image: "img", Labels: managed(nil), Env: []string{"A=B", ScriptEnv + "=" + script}}
	for _, m := range mods {
		m(&spec)
	}
	id, err := rt.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func state(t *testing.T, rt *Runtime, id string) runtime.State {
	t.Helper()
	st, err := rt.Inspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRunForExitCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := New(Config{})
		id := mustRun(t, rt, "a", "run_for=2s,exit_code=3")
		time.Sleep(1999 * time.Millisecond)
		synctest.Wait()
		if st := state(t, rt, id); st.Status != runtime.StatusRunning {
			t.Fatalf("status at 1.999s = %s, want running", st.Status)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		st := state(t, rt, id)
		if st.Status != runtime.StatusExited || st.ExitCode != 3 {
			t.Fatalf("got %s/%d, want exited/3", st.Status, st.ExitCode)
		}
		if got := st.FinishedAt.Sub(st.StartedAt); got != 2*time.Second {
			t.Fatalf("ran %v, want 2s", got)
		}
	})
}

func TestStopCodes(t *testing.T) {
	tests := []struct {
		script   string
		timeout  time.Duration
		wantCode int
		wantTook time.Duration
	}{
		{"", 10 * time.Second, 143, 0},
		{"ignore_sigterm", 10 * time.Second, 137, 10 * time.Second},
		{"stop_delay=2s", 10 * time.Second, 143, 2 * time.Second},
		{"stop_delay=20s", 10 * time.Second, 137, 10 * time.Second},
		{"", 0, 137, 0},
		{"oom,run_for=1h", time.Second, 143, 0},
	}
	for _, tt := range tests {
		t.Run(tt.script+"/"+tt.timeout.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := New(Config{})
				id := mustRun(t, rt, "a", tt.script)
				start := time.Now()
				if err := rt.Stop(context.Background(), id, tt.timeout); err != nil {
					t.Fatal(err)
				}
				if took := time.Since(start); took != tt.wantTook {
					t.Errorf("stop took %v, want %v", took, tt.wantTook)
				}
				if st := state(t, rt, id); st.Status != runtime.StatusExited || st.ExitCode != tt.wantCode {
					t.Errorf("got %s/%d, want exited/%d", st.Status, st.ExitCode, tt.wantCode)
				}
				// Stopping again is a no-op.
				if err := rt.Stop(context.Background(), id, tt.timeout); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestOOM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := New(Config{})
		id := mustRun(t, rt, "a", "run_for=1s,oom")
		time.Sleep(time.Second)
		synctest.Wait()
		st := state(t, rt, id)
		if !st.OOMKilled || st.ExitCode != 137 {
			t.Fatalf("got oom=%v code=%d, want true/137", st.OOMKilled, st.ExitCode)
		}
	})
}

func TestStartErrorAndCreateErrors(t *testing.T) {
	rt := New(Config{})
	ctx := context.Background()
	_ = rt.EnsureImage(ctx, "img", "")
	id, err := rt.Create(ctx, runtime.ContainerSpec{Name: "a", Image: "img", Env: []string{`ORCH_FAKE=start_error=exec: "nope": executable file not found in $PATH`}})
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Start(ctx, id)
	if err == nil || !strings.Contains(err.Error(), `exec: "nope"`) {
		t.Fatalf("start err = %v", err)
	}
	if st := state(t, rt, id); st.Status != runtime.StatusCreated || st.Error == "" {
		t.Fatalf("state after failed start: %+v", st)
	}
	if _, err := rt.Create(ctx, runtime.ContainerSpec{Name: "a", Image: "img"}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("duplicate name: err = %v", err)
	}
	if _, err := rt.Create(ctx, runtime.ContainerSpec{Name: "b", Image: "other"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("missing image: err = %v", err)
	}
	if _, err := rt.Create(ctx, runtime.ContainerSpec{Name: "c", Image: "img", Env: []string{"ORCH_FAKE=pull_error=manifest unknown"}}); err == nil || err.Error() != "manifest unknown" {
		t.Fatalf("pull_error: err = %v", err)
	}
	_, err = rt.Create(ctx, runtime.ContainerSpec{Name: "d", Image: "img", Env: []string{"ORCH_FAKE=bogus=1"}})
	if err == nil || !strings.Contains(err.Error(), "unknown key") || !strings.Contains(err.Error(), "run_for") {
		t.Fatalf("unknown key: err = %v", err)
	}
}

func TestImages(t *testing.T) {
	ctx := context.Background()
	rt := New(Config{Images: []string{"present"}})
	if err := rt.EnsureImage(ctx, "present:latest", "never"); err != nil {
		t.Fatal(err)
	}
	if err := rt.EnsureImage(ctx, "absent", "never"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("never+absent: %v", err)
	}
	if err := rt.EnsureImage(ctx, "example.com/unpullable:1", "if-not-present"); err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Fatalf("unpullable: %v", err)
	}
	rt.SetPullError("flaky", "toomanyrequests: rate limit")
	if err := rt.EnsureImage(ctx, "flaky", "always"); err == nil || err.Error() != "toomanyrequests: rate limit" {
		t.Fatalf("SetPullError: %v", err)
	}
	rt.SetPullError("flaky", "")
	if err := rt.EnsureImage(ctx, "flaky", "always"); err != nil || !rt.HasImage("flaky:latest") {
		t.Fatalf("after clearing: %v", err)
	}
}

func TestHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := New(Config{})
		hc := func(s *runtime.ContainerSpec) { s.HealthCheck = &runtime.HealthCheck{Test: []string{"CMD", "true"}} }
		noCheck := mustRun(t, rt, "nocheck", "health=healthy")
		def := mustRun(t, rt, "def", "", hc)
		late := mustRun(t, rt, "late", "health=healthy_after:1s", hc)
		bad := mustRun(t, rt, "bad", "health=unhealthy_after:500ms", hc)
		check := func(id, want string) {
			t.Helper()
			if got := state(t, rt, id).Health; got != want {
				t.Errorf("%s health = %q, want %q", id[:6], got, want)
			}
		}
		check(noCheck, "")
		check(def, "healthy")
		check(late, "starting")
		check(bad, "starting")
		time.Sleep(time.Second)
		synctest.Wait()
		check(late, "healthy")
		check(bad, "unhealthy")
		if err := rt.SetHealth(late, "unhealthy"); err != nil {
			t.Fatal(err)
		}
		check(late, "unhealthy")
	})
}

func TestEventsFanOutAndBreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := New(Config{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ev1, _ := rt.Events(ctx)
		ev2, errs2 := rt.Events(ctx)
		id := mustRun(t, rt, "a", "run_for=1s")
		// An unmanaged container is not reported.
		_, _ = rt.Create(ctx, runtime.ContainerSpec{Name: "u", Image: "img"})
		time.Sleep(time.Second)
		synctest.Wait()
		want := []string{"create", "start", "die"}
		for i, ch := range []<-chan runtime.Event{ev1, ev2} {
			for _, w := range want {
				ev := <-ch
				if ev.Action != w || ev.ContainerID != id || ev.Labels[runtime.LabelManaged] != "true" {
					t.Fatalf("sub %d: got %+v, want %s of %s", i, ev, w, id)
				}
			}
		}
		rt.BreakEvents(errors.New("daemon restarted"))
		if err := <-errs2; err == nil || err.Error() != "daemon restarted" {
			t.Fatalf("break err = %v", err)
		}
		if _, ok := <-ev2; ok {
			t.Fatal("event channel should close after the break")
		}
		rt.SetDown(errors.New("Cannot connect to the Docker daemon"))
		_, errs3 := rt.Events(ctx)
		if err := <-errs3; err == nil {
			t.Fatal("Events while down should fail")
		}
		if _, err := rt.List(ctx, nil); err == nil {
			t.Fatal("List while down should fail")
		}
		rt.SetDown(nil)
		ev4, _ := rt.Events(ctx)
		mustRun(t, rt, "b", "")
		if ev := <-ev4; ev.Action != "create" {
			t.Fatalf("after recovery got %+v", ev)
		}
		cancel()
		synctest.Wait()
	})
}

func TestListAndRemove(t *testing.T) {
	ctx := context.Background()
	rt := New(Config{})
	a := mustRun(t, rt, "a", "", func(s *runtime.ContainerSpec) { s.Labels = managed(map[string]string{runtime.LabelTask: "t1"}) })
	mustRun(t, rt, "b", "", func(s *runtime.ContainerSpec) { s.Labels = managed(map[string]string{runtime.LabelTask: "t2"}) })
	mustRun(t, rt, "c", "", func(s *runtime.ContainerSpec) { s.Labels = nil })
	got, err := rt.List(ctx, map[string]string{runtime.LabelTask: "t1"})
	if err != nil || len(got) != 1 || got[0].ID != a {
		t.Fatalf("List t1 = %v, %v", got, err)
	}
	all, _ := rt.List(ctx, nil)
	if len(all) != 2 {
		t.Fatalf("List all managed = %d, want 2", len(all))
	}
	if len(rt.Containers()) != 3 {
		t.Fatalf("Containers = %d, want 3", len(rt.Containers()))
	}
	if st, err := rt.Inspect(ctx, "a"); err != nil || st.ID != a {
		t.Fatalf("Inspect by name: %v %v", st.ID, err)
	}
	if err := rt.Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Inspect(ctx, a); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
	if err := rt.Remove(ctx, a); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestPorts(t *testing.T) {
	rt := New(Config{DynamicPortStart: 40000})
	ports := func(p ...runtime.PortSpec) func(*runtime.ContainerSpec) {
		return func(s *runtime.ContainerSpec) { s.Ports = p }
	}
	a := mustRun(t, rt, "a", "", ports(runtime.PortSpec{ContainerPort: 80, HostPort: 8080}, runtime.PortSpec{ContainerPort: 9000}))
	st := state(t, rt, a)
	want := []runtime.PortBinding{{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"}, {ContainerPort: 9000, HostPort: 40000, Protocol: "tcp"}}
	if !slices.Equal(st.Ports, want) {
		t.Fatalf("ports = %+v, want %+v", st.Ports, want)
	}
	ctx := context.Background()
	id, _ := rt.Create(ctx, runtime.ContainerSpec{Name: "b", Image: "img", Ports: []runtime.PortSpec{{ContainerPort: 81, HostPort: 8080}}})
	if err := rt.Start(ctx, id); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("conflict: %v", err)
	}
}

func TestLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := New(Config{})
		ctx := context.Background()
		id := mustRun(t, rt, "web", "log_lines=2,log=hi,log_every=1s,run_for=3500ms")
		r, err := rt.Logs(ctx, id, runtime.LogOptions{Tail: -1})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		want := "[fake] web started (image img)\nhi (1/2)\nhi (2/2)\n"
		if string(b) != want {
			t.Fatalf("logs = %q, want %q", b, want)
		}
		r, _ = rt.Logs(ctx, id, runtime.LogOptions{Tail: 1, Follow: true})
		b, _ = io.ReadAll(r) // returns when the container exits at 3.5s
		want = "hi (2/2)\nhi (tick 1)\nhi (tick 2)\nhi (tick 3)\n[fake] web exited with code 0\n"
		if string(b) != want {
			t.Fatalf("followed logs = %q, want %q", b, want)
		}
		r, _ = rt.Logs(ctx, id, runtime.LogOptions{Tail: -1, Since: time.Now().Add(-600 * time.Millisecond), Timestamps: true})
		b, _ = io.ReadAll(r)
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], "exited with code 0") || !strings.Contains(lines[0], "T") {
			t.Fatalf("since logs = %q", b)
		}
	})
}

func TestLogsFollowCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := New(Config{})
		id := mustRun(t, rt, "web", "log_lines=0")
		ctx, cancel := context.WithCancel(context.Background())
		r, _ := rt.Logs(ctx, id, runtime.LogOptions{Tail: -1, Follow: true})
		done := make(chan error)
		go func() {
			_, err := io.ReadAll(r)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		r2, _ := rt.Logs(context.Background(), id, runtime.LogOptions{Tail: -1, Follow: true})
		go func() {
			_, err := io.ReadAll(r2)
			done <- err
		}()
		synctest.Wait()
		_ = r2.Close()
		if err := <-done; err != nil {
			t.Fatalf("err after close = %v", err)
		}
	})
}

func TestStatsAndCapacity(t *testing.T) {
	rt := New(Config{CPU: 2048, MemoryMiB: 1024})
	ctx := context.Background()
	if c, m, _ := rt.Capacity(ctx); c != 2048 || m != 1024 {
		t.Fatalf("capacity %d/%d", c, m)
	}
	id := mustRun(t, rt, "a", "cpu=12.5,memory=64")
	st, _ := rt.Stats(ctx, id)
	if st.CPUPercent != 12.5 || st.MemoryBytes != 64<<20 {
		t.Fatalf("stats %+v", st)
	}
	_ = rt.Exit(id, 0)
	if st, _ := rt.Stats(ctx, id); st != (runtime.Stats{}) {
		t.Fatalf("stats after exit %+v", st)
	}
}

// Wait returns when the container's run ends, at once for one that is
// not running, and breaks with the engine's error when the engine goes
// down (as a daemon restart breaks Docker's wait), though the container
// runs on.
func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rt := New(Config{})
		id := mustRun(t, rt, "a", "")
		waited := make(chan error, 1)
		go func() { waited <- rt.Wait(ctx, id) }()
		synctest.Wait()
		down := errors.New("Cannot connect to the Docker daemon")
		rt.SetDown(down)
		synctest.Wait()
		select {
		case err := <-waited:
			if !errors.Is(err, down) {
				t.Fatalf("Wait when the engine went down = %v, want its error", err)
			}
		default:
			t.Fatal("Wait did not break when the engine went down")
		}
		rt.SetDown(nil)
		if st, err := rt.Inspect(ctx, id); err != nil || st.Status != runtime.StatusRunning {
			t.Fatalf("after the engine came back: %+v %v, want the container still running", st, err)
		}
		go func() { waited <- rt.Wait(ctx, id) }()
		synctest.Wait()
		if err := rt.Exit(id, 3); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-waited:
			if err != nil {
				t.Fatalf("Wait when the container exited = %v, want nil", err)
			}
		default:
			t.Fatal("Wait did not return when the container exited")
		}
		if err := rt.Wait(ctx, id); err != nil {
			t.Fatalf("Wait on an exited container = %v, want nil at once", err)
		}
	})
}
