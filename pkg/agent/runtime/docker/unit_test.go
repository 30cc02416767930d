package docker

// Tests that need no Docker daemon: the mappings, credentials lookup and
// policy logic, with a fake dockerAPI where a client is needed.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// fakeAPI implements the image calls of dockerAPI; other calls panic.
type fakeAPI struct {
	dockerAPI
	images   map[string]bool
	pulls    []string
	auths    []string
	pullBody string
	pullErr  error
	events   chan events.Message
	eventErr chan error
}

func (f *fakeAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if f.images[ref] {
		return image.InspectResponse{ID: "sha256:1"}, nil
	}
	return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (f *fakeAPI) ImagePull(_ context.Context, ref string, o image.PullOptions) (io.ReadCloser, error) {
	f.pulls = append(f.pulls, ref)
	f.auths = append(f.auths, o.RegistryAuth)
	if f.pullErr != nil {
		return nil, f.pullErr
	}
	return io.NopCloser(strings.NewReader(f.pullBody)), nil
}

func (f *fakeAPI) Events(context.Context, events.ListOptions) (<-chan events.Message, <-chan error) {
	return f.events, f.eventErr
}

func TestEnsureImagePolicyLogic(t *testing.T) {
	const present, absent = "present:1", "absent:1"
	cases := []struct {
		image, policy string
		wantPulls     int
		wantErr       string
	}{
		{present, "always", 1, ""},
		{present, "if-not-present", 0, ""},
		{present, "", 0, ""},
		{present, "never", 0, ""},
		{absent, "if-not-present", 1, ""},
		{absent, "Always", 1, ""},
		{absent, "never", 0, "image absent:1 is not present on this host and imagePullPolicy is never"},
		{absent, "sometimes", 0, `unknown imagePullPolicy "sometimes"`},
	}
	for _, tc := range cases {
		f := &fakeAPI{images: map[string]bool{present: true}, pullBody: `{"status":"Pulling"}` + "\n" + `{"status":"Done"}`}
		r, _ := New(withAPI(f), WithDockerConfigDir(t.TempDir()))
		err := r.EnsureImage(context.Background(), tc.image, tc.policy)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("EnsureImage(%s, %q) = %v, want error %q", tc.image, tc.policy, err, tc.wantErr)
		}
		if len(f.pulls) != tc.wantPulls {
			t.Errorf("EnsureImage(%s, %q) pulled %d times, want %d", tc.image, tc.policy, len(f.pulls), tc.wantPulls)
		}
	}
}

func TestPullErrorFromStream(t *testing.T) {
	f := &fakeAPI{pullBody: `{"status":"Pulling from x"}` + "\n" +
		`{"errorDetail":{"message":"manifest for x:1 not found: manifest unknown"},"error":"manifest for x:1 not found: manifest unknown"}`}
	r, _ := New(withAPI(f), WithDockerConfigDir(t.TempDir()))
	err := r.EnsureImage(context.Background(), "x:1", "always")
	if err == nil || err.Error() != "pull x:1: manifest for x:1 not found: manifest unknown" {
		t.Errorf("got %v", err)
	}
	f = &fakeAPI{pullErr: errors.New("Error response from daemon: pull access denied for x")}
	r, _ = New(withAPI(f), WithDockerConfigDir(t.TempDir()))
	if err := r.EnsureImage(context.Background(), "x:1", "always"); err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Errorf("got %v", err)
	}
}

func TestRegistryAuthFromConfig(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cfg := `{
	  "auths": {
	    "https://index.docker.io/v1/": {"auth": "` + b64("hubuser:hubpass") + `"},
	    "localhost:5000": {"username": "u", "password": "p"},
	    "https://registry.example.com/v2/": {"auth": "` + b64("ex:pa:ss") + `"},
	    "empty.example.com": {},
	    "bad.example.com": {"auth": "!!!"}
	  },
	  "credHelpers": {"helped.example.com": "fake"}
	}`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var helperCalls []string
	r, _ := New(withAPI(&fakeAPI{}), WithDockerConfigDir(dir))
	r.credHelperFn = func(_ context.Context, helper, server string) (string, string, bool, error) {
		helperCalls = append(helperCalls, helper+" "+server)
		return "helper-user", "helper-secret", true, nil
	}
	cases := []struct {
		image   string
		want    registry.AuthConfig // zero: anonymous
		wantErr string
	}{
		{"nginx", registry.AuthConfig{Username: "hubuser", Password: "hubpass", ServerAddress: dockerHubServer}, ""},
		{"docker.io/library/nginx:1", registry.AuthConfig{Username: "hubuser", Password: "hubpass", ServerAddress: dockerHubServer}, ""},
		{"localhost:5000/a/b:c", registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "localhost:5000"}, ""},
		{"registry.example.com/team/app@sha256:" + strings.Repeat("a", 64), registry.AuthConfig{Username: "ex", Password: "pa:ss", ServerAddress: "registry.example.com"}, ""},
		{"localhost:5001/a", registry.AuthConfig{}, ""},
		{"empty.example.com/a", registry.AuthConfig{}, ""},
		{"helped.example.com/a", registry.AuthConfig{Username: "helper-user", Password: "helper-secret", ServerAddress: "helped.example.com"}, ""},
		{"bad.example.com/a", registry.AuthConfig{}, "not valid base64"},
		{"Invalid:Ref", registry.AuthConfig{}, "invalid image reference"},
	}
	for _, tc := range cases {
		enc, err := r.registryAuth(context.Background(), tc.image)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.image, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.image, err)
			continue
		}
		var got registry.AuthConfig
		if enc != "" {
			raw, err := base64.URLEncoding.DecodeString(enc)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
		}
		if got != tc.want {
			t.Errorf("%s: auth %+v, want %+v", tc.image, got, tc.want)
		}
	}
	if !reflect.DeepEqual(helperCalls, []string{"fake helped.example.com"}) {
		t.Errorf("helper calls = %q", helperCalls)
	}
}

func TestCredsStoreFallsBackToAuths(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"credsStore": "missing-helper", "auths": {"localhost:5000": {"username": "u", "password": "p"}, "localhost:6000": {}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := New(withAPI(&fakeAPI{}), WithDockerConfigDir(dir))
	r.credHelperFn = func(context.Context, string, string) (string, string, bool, error) {
		return "", "", false, errors.New(`exec: "docker-credential-missing-helper": executable file not found in $PATH`)
	}
	enc, warn := r.registryAuth(context.Background(), "localhost:5000/x")
	if enc == "" || warn == nil || !strings.Contains(warn.Error(), "docker-credential-missing-helper") {
		t.Errorf("got auth %q warn %v; want the auths entry and a warning about the helper", enc, warn)
	}
	enc, warn = r.registryAuth(context.Background(), "localhost:6000/x")
	if enc != "" || warn == nil {
		t.Errorf("got auth %q warn %v; want anonymous with a warning", enc, warn)
	}
}

func TestExecCredHelper(t *testing.T) {
	bin := t.TempDir()
	script := `#!/bin/sh
read server
case "$server" in
  reg.example.com) echo '{"ServerURL":"reg.example.com","Username":"hu","Secret":"hs"}' ;;
  token.example.com) echo '{"ServerURL":"token.example.com","Username":"<token>","Secret":"tok"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx := context.Background()
	if u, s, ok, err := execCredHelper(ctx, "test", "reg.example.com"); u != "hu" || s != "hs" || !ok || err != nil {
		t.Errorf("found: %q %q %v %v", u, s, ok, err)
	}
	if _, _, ok, err := execCredHelper(ctx, "test", "other.example.com"); ok || err != nil {
		t.Errorf("not found: %v %v, want false nil", ok, err)
	}
	if _, _, _, err := execCredHelper(ctx, "nope-not-installed", "x"); err == nil {
		t.Errorf("missing helper: want an error")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credsStore":"test"}`), 0o600)
	r, _ := New(withAPI(&fakeAPI{}), WithDockerConfigDir(dir))
	ac, found, err := r.lookupAuth(ctx, dockerConfigFile{CredsStore: "test"}, "token.example.com")
	if !found || err != nil || ac.IdentityToken != "tok" || ac.Username != "" {
		t.Errorf("identity token: %+v %v %v", ac, found, err)
	}
}

func TestHealthConfig(t *testing.T) {
	cases := []struct {
		in      *runtime.HealthCheck
		want    *container.HealthConfig
		wantErr string
	}{
		{nil, nil, ""},
		{&runtime.HealthCheck{}, nil, ""},
		{&runtime.HealthCheck{Test: []string{"CMD", "/web", "-check", "http://127.0.0.1:8080/healthz"}},
			&container.HealthConfig{Test: []string{"CMD", "/web", "-check", "http://127.0.0.1:8080/healthz"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3}, ""},
		{&runtime.HealthCheck{Test: []string{"cmd-shell", "curl -f localhost || exit 1"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 5, StartPeriod: 10 * time.Second},
			&container.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost || exit 1"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 5, StartPeriod: 10 * time.Second}, ""},
		{&runtime.HealthCheck{Test: []string{"NONE"}}, &container.HealthConfig{Test: []string{"NONE"}}, ""},
		{&runtime.HealthCheck{Test: []string{"CMD"}}, nil, "needs a command"},
		{&runtime.HealthCheck{Test: []string{"curl", "x"}}, nil, "must start with CMD or CMD-SHELL"},
	}
	for _, tc := range cases {
		got, err := healthConfig(tc.in)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("healthConfig(%+v) err = %v, want %q", tc.in, err, tc.wantErr)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("healthConfig(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestContainerConfig(t *testing.T) {
	spec := runtime.ContainerSpec{
		Name: "n", Image: "img", Labels: map[string]string{runtime.LabelTask: "t1"},
		Entrypoint: []string{"/bin/app"}, Command: []string{"-v"},
		Ports: []runtime.PortSpec{
			{ContainerPort: 80},
			{ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1"},
			{ContainerPort: 53, HostPort: 5353, Protocol: "UDP"},
		},
		StopTimeout: 1500 * time.Millisecond, StopSignal: "SIGINT",
	}
	cfg, hc, err := containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Labels[runtime.LabelManaged] != "true" || cfg.Labels[runtime.LabelTask] != "t1" {
		t.Errorf("labels = %v", cfg.Labels)
	}
	if spec.Labels[runtime.LabelManaged] != "" {
		t.Errorf("containerConfig modified the spec's labels")
	}
	if *cfg.StopTimeout != 2 || cfg.StopSignal != "SIGINT" {
		t.Errorf("stop timeout %d signal %q, want 2 (rounded up) SIGINT", *cfg.StopTimeout, cfg.StopSignal)
	}
	wantBindings := nat.PortMap{
		"80/tcp": {{HostPort: ""}, {HostIP: "127.0.0.1", HostPort: "8080"}},
		"53/udp": {{HostPort: "5353"}},
	}
	if !reflect.DeepEqual(hc.PortBindings, wantBindings) {
		t.Errorf("bindings = %v, want %v", hc.PortBindings, wantBindings)
	}
	if len(cfg.ExposedPorts) != 2 {
		t.Errorf("exposed = %v", cfg.ExposedPorts)
	}
	for _, bad := range []runtime.ContainerSpec{
		{Name: "x"},
		{Image: "i", Ports: []runtime.PortSpec{{ContainerPort: 0}}},
		{Image: "i", Ports: []runtime.PortSpec{{ContainerPort: 1, Protocol: "icmp"}}},
		{Image: "i", Mounts: []runtime.Mount{{Source: "/a:b", Target: "/c"}}},
	} {
		if _, _, err := containerConfig(bad); err == nil {
			t.Errorf("containerConfig(%+v): want an error", bad)
		}
	}
}

func TestStateFromInspect(t *testing.T) {
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "abc", Name: "/orch-x", Image: "sha256:ffff",
			State: &container.State{
				Status: "exited", ExitCode: 137, OOMKilled: true, Error: "",
				StartedAt: "2026-01-02T03:04:05.123456789Z", FinishedAt: "0001-01-01T00:00:00Z",
				Health: &container.Health{Status: "unhealthy"},
			},
		},
		Config: &container.Config{Image: "orch-example/web:latest", Labels: map[string]string{"orch.managed": "true"}},
		NetworkSettings: &container.NetworkSettings{NetworkSettingsBase: container.NetworkSettingsBase{Ports: nat.PortMap{
			"8080/tcp": {{HostIP: "0.0.0.0", HostPort: "49153"}, {HostIP: "::", HostPort: "49153"}},
			"53/udp":   {{HostIP: "0.0.0.0", HostPort: "5353"}},
			"9/tcp":    nil, // exposed, not published
		}}},
	}
	st := stateFromInspect(c)
	want := runtime.State{
		ID: "abc", Name: "orch-x", Image: "orch-example/web:latest", Labels: map[string]string{"orch.managed": "true"},
		Status: runtime.StatusExited, ExitCode: 137, OOMKilled: true, Health: "unhealthy",
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Ports: []runtime.PortBinding{
			{ContainerPort: 53, HostPort: 5353, Protocol: "udp", HostIP: "0.0.0.0"},
			{ContainerPort: 8080, HostPort: 49153, Protocol: "tcp", HostIP: "0.0.0.0"},
		},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stateFromInspect:\n got %+v\nwant %+v", st, want)
	}
	for status, want := range map[string]string{"created": "created", "running": "running", "paused": "running", "restarting": "running", "exited": "exited", "dead": "exited", "removing": "exited"} {
		if got := mapStatus(&container.State{Status: status}); got != want {
			t.Errorf("mapStatus(%s) = %s, want %s", status, got, want)
		}
	}
}

func TestEventFromMessage(t *testing.T) {
	m := events.Message{Type: events.ContainerEventType, Action: "health_status: healthy",
		Actor: events.Actor{ID: "c1", Attributes: map[string]string{"orch.task": "t", "orch.managed": "true", "name": "x", "image": "i"}}}
	ev, ok := eventFromMessage(m)
	want := runtime.Event{ContainerID: "c1", Action: "health_status", Labels: map[string]string{"orch.task": "t", "orch.managed": "true"}}
	if !ok || !reflect.DeepEqual(ev, want) {
		t.Errorf("got %+v %v, want %+v", ev, ok, want)
	}
	for _, a := range []events.Action{"exec_start: /bin/sh", "attach", "resize", "top"} {
		if _, ok := eventFromMessage(events.Message{Type: events.ContainerEventType, Action: a}); ok {
			t.Errorf("%s should be dropped", a)
		}
	}
	if _, ok := eventFromMessage(events.Message{Type: events.ImageEventType, Action: "create"}); ok {
		t.Errorf("image events should be dropped")
	}
}

func TestEventsStreamError(t *testing.T) {
	f := &fakeAPI{events: make(chan events.Message), eventErr: make(chan error, 1)}
	r, _ := New(withAPI(f))
	evs, errc := r.Events(context.Background())
	f.events <- events.Message{Type: events.ContainerEventType, Action: "start", Actor: events.Actor{ID: "c1"}}
	if ev := <-evs; ev.ContainerID != "c1" || ev.Action != "start" {
		t.Errorf("event = %+v", ev)
	}
	f.eventErr <- io.ErrUnexpectedEOF
	err, ok := <-errc
	if !ok || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error = %v (ok %v), want the stream error", err, ok)
	}
	if _, ok := <-evs; ok {
		t.Errorf("events channel still open after the error")
	}
	if _, ok := <-errc; ok {
		t.Errorf("error channel still open after the error")
	}
}

func TestStatsMath(t *testing.T) {
	var s container.StatsResponse
	s.PreCPUStats.CPUUsage.TotalUsage = 1_000_000_000
	s.PreCPUStats.SystemUsage = 10_000_000_000
	s.CPUStats.CPUUsage.TotalUsage = 1_500_000_000 // +0.5s of CPU
	s.CPUStats.SystemUsage = 12_000_000_000        // +2s across all CPUs (1s wall on 2 CPUs)
	s.CPUStats.OnlineCPUs = 2
	if got := cpuPercent(s); got != 50 {
		t.Errorf("cpuPercent = %v, want 50", got)
	}
	s.CPUStats.OnlineCPUs = 0
	s.CPUStats.CPUUsage.PercpuUsage = []uint64{1, 2, 3, 4}
	if got := cpuPercent(s); got != 100 {
		t.Errorf("cpuPercent with percpu = %v, want 100", got)
	}
	if got := cpuPercent(container.StatsResponse{}); got != 0 {
		t.Errorf("cpuPercent(zero) = %v", got)
	}
	cases := []struct {
		m    container.MemoryStats
		want int64
	}{
		{container.MemoryStats{Usage: 100, Stats: map[string]uint64{"total_inactive_file": 30, "cache": 50}}, 70},
		{container.MemoryStats{Usage: 100, Stats: map[string]uint64{"inactive_file": 40}}, 60},
		{container.MemoryStats{Usage: 100, Stats: map[string]uint64{"cache": 10}}, 90},
		{container.MemoryStats{Usage: 100, Stats: map[string]uint64{"total_inactive_file": 200}}, 100},
		{container.MemoryStats{Usage: 100}, 100},
	}
	for _, tc := range cases {
		if got := memoryUsage(tc.m); got != tc.want {
			t.Errorf("memoryUsage(%+v) = %d, want %d", tc.m, got, tc.want)
		}
	}
}

func TestNotFoundWrapping(t *testing.T) {
	err := wrap(cerrdefs.ErrNotFound.WithMessage("No such container: x"), "docker inspect %s", "x")
	if !errors.Is(err, runtime.ErrNotFound) || err.Error() != "docker inspect x: No such container: x" {
		t.Errorf("got %q (is ErrNotFound: %v)", err, errors.Is(err, runtime.ErrNotFound))
	}
	if err := wrap(errors.New("boom"), "docker start %s", "x"); errors.Is(err, runtime.ErrNotFound) || err.Error() != "docker start x: boom" {
		t.Errorf("got %v", err)
	}
	if wrap(nil, "x") != nil {
		t.Errorf("wrap(nil) != nil")
	}
	if err := (&imageNotPresentError{image: "i"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("imageNotPresentError does not match ErrNotFound")
	}
}
