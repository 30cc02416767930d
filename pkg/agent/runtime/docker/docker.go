package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// dockerAPI is the subset of the Docker SDK client this package uses.
// *client.Client implements it; tests may substitute a fake.
type dockerAPI interface {
	Info(ctx context.Context) (system.Info, error)
	Ping(ctx context.Context) (types.Ping, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerStats(ctx context.Context, containerID string, stream bool) (container.StatsResponseReader, error)
	ContainerStatsOneShot(ctx context.Context, containerID string) (container.StatsResponseReader, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	Close() error
}

var _ dockerAPI = (*client.Client)(nil)

// Runtime drives the local Docker daemon. It implements [runtime.Runtime].
type Runtime struct {
	api          dockerAPI
	log          *slog.Logger
	configDir    string // Docker CLI config dir for registry credentials; "" = $DOCKER_CONFIG or ~/.docker
	clientOpts   []client.Opt
	credHelperFn credHelperFunc
	peakFiles    sync.Map // container id -> *peakFile, its cgroup's open peak memory file (path "": use the stats API)
}

var _ runtime.Runtime = (*Runtime)(nil)

// Option configures New.
type Option func(*Runtime)

// WithHost talks to the daemon at host (e.g. "unix:///var/run/docker.sock"
// or "tcp://10.0.0.5:2375") instead of DOCKER_HOST.
func WithHost(host string) Option {
	return func(r *Runtime) { r.clientOpts = append(r.clientOpts, client.WithHost(host)) }
}

// WithDockerConfigDir reads registry credentials from dir/config.json
// instead of $DOCKER_CONFIG/config.json or ~/.docker/config.json.
func WithDockerConfigDir(dir string) Option {
	return func(r *Runtime) { r.configDir = dir }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(r *Runtime) { r.log = l }
}

// withAPI substitutes the Docker client (tests).
func withAPI(api dockerAPI) Option {
	return func(r *Runtime) { r.api = api }
}

// New returns a Runtime talking to the Docker daemon configured by the
// environment (DOCKER_HOST etc.), negotiating the API version. It does not
// contact the daemon; call Ping to check it is reachable.
func New(opts ...Option) (*Runtime, error) {
	r := &Runtime{log: slog.Default(), credHelperFn: execCredHelper}
	for _, o := range opts {
		o(r)
	}
	if r.api == nil {
		copts := append([]client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}, r.clientOpts...)
		c, err := client.NewClientWithOpts(copts...)
		if err != nil {
			return nil, fmt.Errorf("docker: create client: %w", err)
		}
		r.api = c
	}
	return r, nil
}

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.api.Close() }

// Name returns "docker".
func (r *Runtime) Name() string { return "docker" }

// Ping checks the daemon answers.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.api.Ping(ctx); err != nil {
		return fmt.Errorf("docker ping: %w", err)
	}
	return nil
}

// Capacity reports the host's CPUs as cpu units (NCPU*1024) and its memory
// in MiB, as the daemon sees them.
func (r *Runtime) Capacity(ctx context.Context) (int, int, error) {
	info, err := r.api.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("docker info: %w", err)
	}
	return info.NCPU * 1024, int(info.MemTotal / (1024 * 1024)), nil
}

// notFoundError keeps Docker's message while matching runtime.ErrNotFound
// with errors.Is.
type notFoundError struct {
	msg string
	err error
}

func (e *notFoundError) Error() string   { return e.msg }
func (e *notFoundError) Unwrap() []error { return []error{runtime.ErrNotFound, e.err} }

// wrap prefixes err with what was being done; Docker's "not found" errors
// also match runtime.ErrNotFound.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	if cerrdefs.IsNotFound(err) && !errors.Is(err, runtime.ErrNotFound) {
		return &notFoundError{msg: msg, err: err}
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
