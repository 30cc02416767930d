package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// Every container these tests create carries these labels; TestMain removes
// whatever a test left behind.
const (
	labelTest    = "orch.test"
	labelTestRun = "orch.test.run"
	testLabelVal = "runtime-docker"
)

// Example images (scripts/build-images.sh).
const (
	webImage   = "orch-example/web:latest"
	jobImage   = "orch-example/job:latest"
	toolsImage = "orch-example/tools:latest"
)

var (
	testRun   = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	nameSeq   atomic.Int64
	imageOnce sync.Once
	imageErr  error
)

const howToRun = "these tests need a running Docker daemon (DOCKER_HOST or /var/run/docker.sock); " +
	"start Docker and run: go test ./pkg/agent/runtime/docker/ (with CI=true a missing daemon is a failure)"

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupRun()
	os.Exit(code)
}

// cleanupRun removes every container and image tag this test run created.
func cleanupRun() {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelTestRun+"="+testRun))})
	if err != nil {
		return
	}
	for _, s := range list {
		_ = c.ContainerRemove(ctx, s.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	imgs, err := c.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", "*/orch-test/*:"+testRun))})
	if err != nil {
		return
	}
	for _, im := range imgs {
		for _, tag := range im.RepoTags {
			if strings.HasSuffix(tag, ":"+testRun) {
				_, _ = c.ImageRemove(ctx, tag, image.RemoveOptions{})
			}
		}
	}
}

// skipOrFail skips the test with a how-to message, or fails it when CI=true.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newTestRuntime returns a Runtime on the local daemon with the example
// images built, or skips (fails when CI=true) without a daemon.
func newTestRuntime(t *testing.T, opts ...Option) *Runtime {
	t.Helper()
	r, err := New(opts...)
	if err != nil {
		skipOrFail(t, "docker client: %v; %s", err, howToRun)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		skipOrFail(t, "%v; %s", err, howToRun)
	}
	buildImages(t)
	return r
}

// buildImages runs scripts/build-images.sh once per test binary (it skips
// images that are up to date).
func buildImages(t *testing.T) {
	t.Helper()
	imageOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			imageErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "build-images.sh"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			imageErr = fmt.Errorf("scripts/build-images.sh: %v\n%s", err, out)
		}
	})
	if imageErr != nil {
		t.Fatalf("build example images: %v", imageErr)
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// testSpec is a container spec with a unique name and the test labels.
func testSpec(img string, cmd ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:    fmt.Sprintf("orch-test-%s-%d", testRun, nameSeq.Add(1)),
		Image:   img,
		Command: cmd,
		Labels: map[string]string{
			labelTest:    testLabelVal,
			labelTestRun: testRun,
		},
	}
}

// create creates spec and removes the container when the test ends.
func create(t *testing.T, r *Runtime, spec runtime.ContainerSpec) string {
	t.Helper()
	id, err := r.Create(ctxT(t, 30*time.Second), spec)
	if err != nil {
		t.Fatalf("Create(%s): %v", spec.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Logf("cleanup: %v", err)
		}
	})
	return id
}

func run(t *testing.T, r *Runtime, spec runtime.ContainerSpec) string {
	t.Helper()
	id := create(t, r, spec)
	if err := r.Start(ctxT(t, 30*time.Second), id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return id
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitState polls Inspect until cond holds or timeout passes.
func waitState(t *testing.T, r *Runtime, id string, timeout time.Duration, what string, cond func(runtime.State) bool) runtime.State {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st runtime.State
	for {
		var err error
		st, err = r.Inspect(ctxT(t, 10*time.Second), id)
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: not %s after %s; last state %+v", id, what, timeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exited(st runtime.State) bool { return st.Status == runtime.StatusExited }

func readLogs(t *testing.T, r *Runtime, id string, opts runtime.LogOptions) string {
	t.Helper()
	rc, err := r.Logs(ctxT(t, 20*time.Second), id, opts)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	return string(b)
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
