// Package runtime is the small contract between the agent and a container
// engine. docker/ implements it with the Docker Engine API (the only importer
// of the Docker SDK); fake/ implements it in memory with scripted behaviour
// so one machine can run hundreds of hollow nodes.
//
// The interface speaks Orch's terms only: no Docker types leak through it.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Labels every container created by Orch carries, so an agent can find and
// adopt its containers after a restart.
const (
	LabelManaged   = "orch.managed" // "true"
	LabelTask      = "orch.task"
	LabelContainer = "orch.container"
	LabelFamily    = "orch.family"
	LabelRevision  = "orch.revision"
	LabelNode      = "orch.node"
	// LabelCluster is the id of the cluster whose agent made the
	// container: two clusters whose agents share a Docker host (and a
	// node name, by default the hostname) never touch each other's.
	LabelCluster = "orch.cluster"
)

// ErrNotFound is returned for an unknown container or image.
var ErrNotFound = errors.New("runtime: not found")

// ContainerSpec is everything needed to create one container.
type ContainerSpec struct {
	Name                   string // runtime-level name, unique on the host
	Image                  string
	PullPolicy             string // always | if-not-present | never
	Entrypoint             []string
	Command                []string
	Env                    []string // KEY=VALUE
	WorkingDir             string
	User                   string
	Labels                 map[string]string
	Ports                  []PortSpec
	CPUShares              int   // cpu units (1024 = 1 vCPU); 0 = unlimited
	MemoryBytes            int64 // hard limit; 0 = none
	MemoryReservationBytes int64 // soft limit; 0 = none
	Mounts                 []Mount
	HealthCheck            *HealthCheck
	StopSignal             string // empty: the image's (SIGTERM by default)
	StopTimeout            time.Duration
	// LogMaxSize / LogMaxFiles configure json-file rotation.
	LogMaxSize  string // e.g. "10m"
	LogMaxFiles int
	// ExtraHosts are "name:ip" entries (e.g. host.docker.internal:host-gateway).
	ExtraHosts []string
	// NetworkMode is ECS's: "" or bridge (the default network, ports
	// published), host (the host's network stack, ports as they are) or
	// none (no network but loopback).
	NetworkMode string
}

// PortSpec publishes ContainerPort; HostPort 0 asks for a dynamic port.
type PortSpec struct {
	ContainerPort int
	HostPort      int
	Protocol      string // tcp | udp
	HostIP        string // empty: all interfaces
}

// Mount is a bind mount from the host.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// HealthCheck mirrors ECS's; Test is ["CMD", ...] or ["CMD-SHELL", "..."].
type HealthCheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	Retries     int
	StartPeriod time.Duration
}

// State is a container's observed state.
type State struct {
	ID         string
	Name       string
	Image      string
	Labels     map[string]string
	Status     string // created | running | exited
	ExitCode   int
	Error      string // the runtime's own error text, e.g. why start failed
	OOMKilled  bool
	Health     string // "" (no check), starting, healthy, unhealthy
	StartedAt  time.Time
	FinishedAt time.Time
	Ports      []PortBinding
}

// Container status values in State.Status.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
)

// PortBinding is a published port as the runtime reports it.
type PortBinding struct {
	ContainerPort int
	HostPort      int
	Protocol      string
	HostIP        string
}

// Event is a change the runtime reports (a container started, died, turned
// healthy, ...). Consumers re-inspect the container rather than trusting the
// event's payload.
type Event struct {
	ContainerID string
	Labels      map[string]string
	Action      string // start, die, health_status, destroy, oom, ...
}

// Stats is a point-in-time usage sample.
type Stats struct {
	CPUPercent  float64
	MemoryBytes int64
}

// MemoryPeaker is implemented by runtimes that can tell the most memory a
// container has used since it started (Lambda's "Max Memory Used"). It is
// optional: callers type-assert and leave the figure out without it.
type MemoryPeaker interface {
	// MemoryPeak is the container's peak memory use in bytes so far.
	MemoryPeak(ctx context.Context, id string) (int64, error)
}

// LogOptions selects which output to stream.
type LogOptions struct {
	Follow     bool
	Since      time.Time // zero: from the start
	Tail       int       // <0: all
	Timestamps bool
}

// Runtime is the contract the agent needs from a container engine.
type Runtime interface {
	// Name is "docker" or "fake".
	Name() string
	// Capacity reports the host's cpu units and memory in MiB.
	Capacity(ctx context.Context) (cpuUnits int, memoryMiB int, err error)
	// EnsureImage makes the image available according to the pull policy.
	EnsureImage(ctx context.Context, image, policy string) error
	// Create creates (but does not start) a container and returns its id.
	Create(ctx context.Context, spec ContainerSpec) (string, error)
	// Start starts a created container. Its error carries the runtime's text
	// (e.g. "exec: \"nope\": executable file not found in $PATH").
	Start(ctx context.Context, id string) error
	// Stop sends the stop signal, waits up to timeout, then kills.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Remove deletes a container (forcefully).
	Remove(ctx context.Context, id string) error
	// Inspect returns the current state or ErrNotFound.
	Inspect(ctx context.Context, id string) (State, error)
	// Wait blocks until the container is not running (it exited, or it
	// is gone) and then returns nil. It returns ctx's error when ctx
	// ends first, and another error when the runtime cannot tell (e.g.
	// the daemon restarted): the caller then inspects the container.
	// One wait holds one request open; no polling.
	Wait(ctx context.Context, id string) error
	// List returns Orch-managed containers whose labels include all of match.
	List(ctx context.Context, match map[string]string) ([]State, error)
	// Events streams container events for Orch-managed containers until ctx
	// ends; the error channel yields one error when the stream breaks (e.g.
	// the daemon restarted), after which the caller re-subscribes.
	Events(ctx context.Context) (<-chan Event, <-chan error)
	// Logs streams a container's combined stdout and stderr as plain text.
	Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
	// Stats samples usage.
	Stats(ctx context.Context, id string) (Stats, error)
	// Ping checks the engine is reachable.
	Ping(ctx context.Context) error
}
