package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"golang.org/x/crypto/bcrypt"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

const registryBin = "/usr/bin/docker-registry"

// localRegistry is a docker-registry (Debian package docker-registry,
// github.com/docker/distribution) serving from a temp dir on 127.0.0.1.
type localRegistry struct {
	host string // localhost:PORT
}

// startRegistry starts docker-registry on a free port; with user set it
// requires basic auth (htpasswd, bcrypt). Skips (fails when CI=true) if
// docker-registry is not installed.
func startRegistry(t *testing.T, user, password string) *localRegistry {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		skipOrFail(t, "%s not found (apt-get install -y docker-registry): %v", registryBin, err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
  secret: orch-test-secret
`, filepath.Join(dir, "data"), port)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: orch-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(registryBin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", registryBin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("registry log:\n%s", b)
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/v2/", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			break // 200, or 401 with auth
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("registry did not answer on %s: %v\n%s", url, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &localRegistry{host: fmt.Sprintf("localhost:%d", port)}
}

// pushTestImage tags src as HOST/orch-test/NAME:RUN, pushes it (with auth if
// user is set), removes the local tag and returns the reference.
func pushTestImage(t *testing.T, reg *localRegistry, src, name, user, password string) string {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t, 60*time.Second)
	ref := reg.host + "/orch-test/" + name + ":" + testRun
	if err := c.ImageTag(ctx, src, ref); err != nil {
		t.Fatalf("tag %s %s: %v", src, ref, err)
	}
	t.Cleanup(func() { removeImage(ref) })
	var auth string
	if user != "" {
		auth, err = registry.EncodeAuthConfig(registry.AuthConfig{Username: user, Password: password, ServerAddress: reg.host})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		auth, _ = registry.EncodeAuthConfig(registry.AuthConfig{})
	}
	rc, err := c.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err == nil {
		err = readPullStream(rc)
		rc.Close()
	}
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	removeImage(ref)
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		t.Fatalf("%s still present after removing the tag", ref)
	}
	return ref
}

func removeImage(ref string) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _ = c.ImageRemove(ctx, ref, image.RemoveOptions{})
}

func TestPullFromLocalRegistry(t *testing.T) {
	t.Parallel()
	// No credentials: an empty Docker config dir.
	r := newTestRuntime(t, WithDockerConfigDir(t.TempDir()))
	reg := startRegistry(t, "", "")
	ref := pushTestImage(t, reg, toolsImage, "tools", "", "")
	ctx := ctxT(t, 60*time.Second)

	if err := r.EnsureImage(ctx, ref, "never"); err == nil {
		t.Fatalf("EnsureImage(%s, never) after removing the tag: want an error", ref)
	}
	if err := r.EnsureImage(ctx, ref, "always"); err != nil {
		t.Fatalf("EnsureImage(%s, always): %v", ref, err)
	}
	if err := r.EnsureImage(ctx, ref, "never"); err != nil {
		t.Errorf("EnsureImage(%s, never) after the pull: %v", ref, err)
	}
	// The pulled image runs.
	id := run(t, r, testSpec(ref, "echo", "pulled"))
	waitState(t, r, id, 20*time.Second, "exited", exited)
	if logs := readLogs(t, r, id, runtime.LogOptions{Tail: -1}); logs != "pulled\n" {
		t.Errorf("logs = %q", logs)
	}

	// A tag the registry lacks: Docker's own message comes through.
	missing := reg.host + "/orch-test/tools:missing-" + testRun
	err := r.EnsureImage(ctx, missing, "if-not-present")
	if err == nil || !strings.Contains(err.Error(), "pull "+missing+":") || !strings.Contains(err.Error(), "manifest unknown") {
		t.Errorf("EnsureImage(missing tag) = %v, want Docker's \"manifest unknown\" message", err)
	}
}

func TestPullWithCredentials(t *testing.T) {
	t.Parallel()
	const user, password = "orch", "s3cret-pass"
	anon := newTestRuntime(t, WithDockerConfigDir(t.TempDir())) // skips without Docker
	reg := startRegistry(t, user, password)
	ref := pushTestImage(t, reg, jobImage, "job", user, password)
	ctx := ctxT(t, 60*time.Second)

	// Without credentials the registry refuses, and Docker says so.
	err := anon.EnsureImage(ctx, ref, "always")
	if err == nil || !strings.Contains(err.Error(), "no basic auth credentials") {
		t.Errorf("anonymous EnsureImage = %v, want Docker's \"no basic auth credentials\"", err)
	}

	cases := map[string]struct {
		entry   authEntry
		wantErr string
	}{
		"auth":              {entry: authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}},
		"username/password": {entry: authEntry{Username: user, Password: password}},
		"wrong password":    {entry: authEntry{Username: user, Password: "wrong"}, wantErr: "unauthorized"},
	}
	for name, tc := range cases {
		entry := tc.entry
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := dockerConfigFile{Auths: map[string]authEntry{
				"registry.example.com": {Auth: "bm90OnRoaXM="},
				"http://" + reg.host:   entry,
			}}
			b, _ := json.Marshal(cfg)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			r := newTestRuntime(t, WithDockerConfigDir(dir))
			removeImage(ref)
			err := r.EnsureImage(ctx, ref, "always")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("EnsureImage = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EnsureImage with credentials: %v", err)
			}
			if err := r.EnsureImage(ctx, ref, "never"); err != nil {
				t.Errorf("image not present after the pull: %v", err)
			}
		})
	}
}
