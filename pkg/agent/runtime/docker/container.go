package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/go-connections/nat"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// ECS's health check defaults, applied where the spec leaves a field zero
// (Docker's own default timeout is 30s, ECS's is 5s).
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 5 * time.Second
	defaultHealthRetries  = 3
)

// Create creates (but does not start) a container from spec. The container
// always carries the label orch.managed=true, has no restart policy (the
// agent decides about restarts) and logs with json-file.
func (r *Runtime) Create(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	cfg, hostCfg, err := containerConfig(spec)
	if err != nil {
		return "", fmt.Errorf("docker create %s: %w", spec.Name, err)
	}
	resp, err := r.api.ContainerCreate(ctx, cfg, hostCfg, nil, nil, spec.Name)
	if err != nil {
		return "", wrap(err, "docker create %s", spec.Name)
	}
	for _, w := range resp.Warnings {
		r.log.Warn("docker create warning", "container", spec.Name, "warning", w)
	}
	return resp.ID, nil
}

// containerConfig translates spec into Docker's create request.
func containerConfig(spec runtime.ContainerSpec) (*container.Config, *container.HostConfig, error) {
	if spec.Image == "" {
		return nil, nil, errors.New("image is required")
	}
	labels := make(map[string]string, len(spec.Labels)+1)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[runtime.LabelManaged] = "true"

	cfg := &container.Config{
		Image:      spec.Image,
		Env:        spec.Env,
		WorkingDir: spec.WorkingDir,
		User:       spec.User,
		Labels:     labels,
		StopSignal: spec.StopSignal,
	}
	if len(spec.Command) > 0 {
		cfg.Cmd = spec.Command
	}
	if len(spec.Entrypoint) > 0 {
		cfg.Entrypoint = spec.Entrypoint
	}
	if spec.StopTimeout > 0 {
		s := durationSeconds(spec.StopTimeout)
		cfg.StopTimeout = &s
	}
	hc, err := healthConfig(spec.HealthCheck)
	if err != nil {
		return nil, nil, err
	}
	cfg.Healthcheck = hc

	exposed, bindings, err := portConfig(spec.Ports)
	if err != nil {
		return nil, nil, err
	}
	cfg.ExposedPorts = exposed
	extraHosts := spec.ExtraHosts
	switch spec.NetworkMode {
	case "", "bridge":
	case "host", "none":
		// As ECS: host uses the host's stack (container ports are host
		// ports, nothing to publish); none has only loopback.
		bindings, extraHosts = nil, nil
		cfg.ExposedPorts = nil
	default:
		return nil, nil, fmt.Errorf("network mode %q: use bridge, host or none", spec.NetworkMode)
	}

	logCfg := map[string]string{}
	if spec.LogMaxSize != "" {
		logCfg["max-size"] = spec.LogMaxSize
	}
	if spec.LogMaxFiles > 0 {
		logCfg["max-file"] = strconv.Itoa(spec.LogMaxFiles)
	}
	hostCfg := &container.HostConfig{
		PortBindings:  bindings,
		LogConfig:     container.LogConfig{Type: "json-file", Config: logCfg},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		ExtraHosts:    extraHosts,
		NetworkMode:   container.NetworkMode(spec.NetworkMode),
		Resources: container.Resources{
			CPUShares:         int64(spec.CPUShares),
			Memory:            spec.MemoryBytes,
			MemoryReservation: spec.MemoryReservationBytes,
		},
	}
	for _, m := range spec.Mounts {
		if m.Source == "" || m.Target == "" {
			return nil, nil, fmt.Errorf("mount %q -> %q: source and target are required", m.Source, m.Target)
		}
		if strings.Contains(m.Source, ":") || strings.Contains(m.Target, ":") {
			return nil, nil, fmt.Errorf("mount %q -> %q: paths must not contain ':'", m.Source, m.Target)
		}
		// Binds (not Mounts) so Docker creates a missing host directory, as ECS does.
		b := m.Source + ":" + m.Target
		if m.ReadOnly {
			b += ":ro"
		}
		hostCfg.Binds = append(hostCfg.Binds, b)
	}
	return cfg, hostCfg, nil
}

// healthConfig maps an ECS health check onto Docker's: Test is ["CMD", ...],
// ["CMD-SHELL", "cmd"] or ["NONE"]; zero durations take ECS's defaults.
func healthConfig(h *runtime.HealthCheck) (*container.HealthConfig, error) {
	if h == nil || len(h.Test) == 0 {
		return nil, nil
	}
	test := append([]string(nil), h.Test...)
	switch strings.ToUpper(test[0]) {
	case "CMD", "CMD-SHELL":
		test[0] = strings.ToUpper(test[0])
		if len(test) < 2 {
			return nil, fmt.Errorf("healthCheck.command %q: %s needs a command", h.Test, test[0])
		}
	case "NONE":
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	default:
		return nil, fmt.Errorf("healthCheck.command %q must start with CMD or CMD-SHELL", h.Test)
	}
	hc := &container.HealthConfig{
		Test:        test,
		Interval:    h.Interval,
		Timeout:     h.Timeout,
		Retries:     h.Retries,
		StartPeriod: h.StartPeriod,
	}
	if hc.Interval <= 0 {
		hc.Interval = defaultHealthInterval
	}
	if hc.Timeout <= 0 {
		hc.Timeout = defaultHealthTimeout
	}
	if hc.Retries <= 0 {
		hc.Retries = defaultHealthRetries
	}
	return hc, nil
}

func portConfig(ports []runtime.PortSpec) (nat.PortSet, nat.PortMap, error) {
	if len(ports) == 0 {
		return nil, nil, nil
	}
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, nil, fmt.Errorf("port %d: unknown protocol %q (want tcp or udp)", p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort <= 0 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			return nil, nil, fmt.Errorf("port mapping %d->%d/%s is out of range", p.HostPort, p.ContainerPort, proto)
		}
		port, err := nat.NewPort(proto, strconv.Itoa(p.ContainerPort))
		if err != nil {
			return nil, nil, err
		}
		exposed[port] = struct{}{}
		hostPort := ""
		if p.HostPort != 0 {
			hostPort = strconv.Itoa(p.HostPort)
		}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: hostPort})
	}
	return exposed, bindings, nil
}

// durationSeconds rounds d up to whole seconds (Docker's unit for stop timeouts).
func durationSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// Start starts a created container. Its error carries Docker's text, e.g.
// `exec: "nope": executable file not found in $PATH`.
func (r *Runtime) Start(ctx context.Context, id string) error {
	return wrap(r.api.ContainerStart(ctx, id, container.StartOptions{}), "docker start %s", id)
}

// Stop sends the container's stop signal, waits up to timeout (rounded up to
// whole seconds; negative: the container's own stop timeout) and then kills
// it. Stopping a stopped container is not an error.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	var opts container.StopOptions
	if timeout >= 0 {
		s := durationSeconds(timeout)
		opts.Timeout = &s
	}
	return wrap(r.api.ContainerStop(ctx, id, opts), "docker stop %s", id)
}

// Remove forcefully removes a container (killing it if it runs) and its
// anonymous volumes.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	if v, ok := r.peakFiles.LoadAndDelete(id); ok {
		v.(*peakFile).close()
	}
	return wrap(r.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}), "docker remove %s", id)
}

// Inspect returns the container's state, or an error matching
// runtime.ErrNotFound.
func (r *Runtime) Inspect(ctx context.Context, id string) (runtime.State, error) {
	resp, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.State{}, wrap(err, "docker inspect %s", id)
	}
	return stateFromInspect(resp), nil
}

// Wait blocks until the container is not running, with one request that
// Docker answers when the container stops (the SDK negotiates the API
// version first, and uses the older form of the call on engines before
// API 1.30). A container that is gone is not running either.
func (r *Runtime) Wait(ctx context.Context, id string) error {
	resc, errc := r.api.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-resc:
		return nil
	case err := <-errc:
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return wrap(err, "docker wait %s", id)
	}
}

// List returns the Orch-managed containers (running or not) whose labels
// include all of match.
func (r *Runtime) List(ctx context.Context, match map[string]string) ([]runtime.State, error) {
	args := filters.NewArgs(filters.Arg("label", runtime.LabelManaged+"=true"))
	for k, v := range match {
		args.Add("label", k+"="+v)
	}
	summaries, err := r.api.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("docker list: %w", err)
	}
	states := make([]runtime.State, 0, len(summaries))
	for _, s := range summaries {
		st, err := r.Inspect(ctx, s.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed since the list
		}
		if err != nil {
			return nil, err
		}
		states = append(states, st)
	}
	return states, nil
}

// stateFromInspect maps Docker's inspect answer onto runtime.State.
func stateFromInspect(c container.InspectResponse) runtime.State {
	st := runtime.State{}
	if c.ContainerJSONBase != nil {
		st.ID = c.ID
		st.Name = strings.TrimPrefix(c.Name, "/")
		st.Image = c.Image
		if s := c.State; s != nil {
			st.Status = mapStatus(s)
			st.ExitCode = s.ExitCode
			st.Error = s.Error
			st.OOMKilled = s.OOMKilled
			if s.Health != nil {
				st.Health = s.Health.Status
			}
			st.StartedAt = parseDockerTime(s.StartedAt)
			st.FinishedAt = parseDockerTime(s.FinishedAt)
		}
	}
	if c.Config != nil {
		st.Labels = c.Config.Labels
		if c.Config.Image != "" {
			st.Image = c.Config.Image // the reference it was created from, not the image id
		}
	}
	if c.NetworkSettings != nil {
		st.Ports = portsFromMap(c.NetworkSettings.Ports)
	}
	return st
}

// mapStatus folds Docker's states onto created, running and exited.
func mapStatus(s *container.State) string {
	switch s.Status {
	case "created":
		return runtime.StatusCreated
	case "running", "paused", "restarting":
		return runtime.StatusRunning
	case "exited", "dead", "removing":
		return runtime.StatusExited
	}
	if s.Running {
		return runtime.StatusRunning
	}
	return runtime.StatusExited
}

func parseDockerTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// portsFromMap lists published ports, sorted by container port, protocol and host IP.
func portsFromMap(pm nat.PortMap) []runtime.PortBinding {
	var out []runtime.PortBinding
	for port, bindings := range pm {
		for _, b := range bindings {
			hp, err := strconv.Atoi(b.HostPort)
			if err != nil {
				continue
			}
			out = append(out, runtime.PortBinding{
				ContainerPort: port.Int(),
				HostPort:      hp,
				Protocol:      port.Proto(),
				HostIP:        b.HostIP,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return a.HostIP < b.HostIP
	})
	// Docker publishes each port on 0.0.0.0 and on ::; one binding per
	// (container port, protocol, host port) is what users want to see.
	dedup := out[:0]
	for i, b := range out {
		if i > 0 {
			p := dedup[len(dedup)-1]
			if p.ContainerPort == b.ContainerPort && p.Protocol == b.Protocol && p.HostPort == b.HostPort {
				continue
			}
		}
		dedup = append(dedup, b)
	}
	return dedup
}
