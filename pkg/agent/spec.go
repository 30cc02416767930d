package agent

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

// Defaults for container logs (json-file rotation) and health checks (ECS's).
const (
	defaultLogMaxSize  = "10m"
	defaultLogMaxFiles = 3
)

// containerName is the runtime-level name: unique on the host and easy to
// read in `docker ps`.
func containerName(t model.Task, def model.TaskDefinition, c *model.ContainerDefinition) string {
	family := def.Family
	if family == "" {
		family = t.Family
	}
	return sanitizeName("orch-" + family + "-" + c.Name + "-" + t.TaskID)
}

func sanitizeName(s string) string {
	b := []byte(s)
	for i, ch := range b {
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-'
		if !ok {
			b[i] = '-'
		}
	}
	return string(b)
}

// scratchDir holds a task's volumes that have no host source path, shared by
// its containers and removed with them.
func scratchDir(taskID, volume string) string {
	return filepath.Join(os.TempDir(), "orch-volumes", sanitizeName(taskID), sanitizeName(volume))
}

func removeScratch(taskID string) {
	dir := filepath.Join(os.TempDir(), "orch-volumes", sanitizeName(taskID))
	if _, err := os.Stat(dir); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// env builds a container's environment. Later sources win: Orch's own
// variables, the control plane's (from register), Config.ContainerEnv, the
// task definition's, then the task's container overrides.
func (r *taskRunner) env(c *model.ContainerDefinition) []string {
	t := r.task
	m := map[string]string{
		"ORCH_TASK_ID":        t.TaskID,
		"ORCH_TASK_ARN":       t.TaskArn,
		"ORCH_TASK_FAMILY":    r.def.Family,
		"ORCH_TASK_REVISION":  strconv.Itoa(r.def.Revision),
		"ORCH_CONTAINER_NAME": c.Name,
		"ORCH_NODE":           r.a.node,
	}
	if m["ORCH_TASK_ARN"] == "" {
		m["ORCH_TASK_ARN"] = model.TaskArnFor(t.TaskID)
	}
	maps.Copy(m, r.endpointEnv(c.Name))
	if r.a.caFile != "" {
		m["AWS_CA_BUNDLE"] = CABundlePath
	}
	maps.Copy(m, r.credentialsEnv())
	r.a.mu.Lock()
	maps.Copy(m, r.a.serverEnv)
	r.a.mu.Unlock()
	maps.Copy(m, r.a.cfg.ContainerEnv)
	for _, kv := range c.Environment {
		m[kv.Name] = kv.Value
	}
	for _, o := range t.Overrides {
		if o.Name == c.Name {
			for _, kv := range o.Environment {
				m[kv.Name] = kv.Value
			}
		}
	}
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

// spec turns a container definition into what the runtime creates.
func (r *taskRunner) spec(c *ctr) (runtime.ContainerSpec, error) {
	d := c.def
	t := r.task
	labels := map[string]string{}
	maps.Copy(labels, d.DockerLabels)
	maps.Copy(labels, map[string]string{
		runtime.LabelManaged:   "true",
		runtime.LabelTask:      t.TaskID,
		runtime.LabelContainer: d.Name,
		runtime.LabelFamily:    r.def.Family,
		runtime.LabelRevision:  strconv.Itoa(r.def.Revision),
		runtime.LabelNode:      r.a.node,
		LabelStopTimeout:       strconv.Itoa(int(d.StopTimeoutOrDefault() / time.Second)),
		LabelEndpointSecret:    r.endpointSecret(),
		LabelEndpointPort:      r.a.endpointPort,
	})
	if c := r.a.clusterID(); c != "" {
		labels[runtime.LabelCluster] = c
	}
	command := d.Command
	for _, o := range t.Overrides {
		if o.Name == d.Name && len(o.Command) > 0 {
			command = o.Command
		}
	}
	spec := runtime.ContainerSpec{
		Name:        containerName(t, r.def, d),
		Image:       d.Image,
		PullPolicy:  d.PullPolicy(),
		Entrypoint:  slices.Clone(d.EntryPoint),
		Command:     slices.Clone(command),
		Env:         r.env(d),
		WorkingDir:  d.WorkingDirectory,
		User:        d.User,
		Labels:      labels,
		CPUShares:   d.Cpu,
		StopTimeout: d.StopTimeoutOrDefault(),
		LogMaxSize:  defaultLogMaxSize,
		LogMaxFiles: defaultLogMaxFiles,
		ExtraHosts:  []string{"host.docker.internal:host-gateway"},
		NetworkMode: r.def.NetworkMode,
	}
	if spec.NetworkMode == model.NetworkAwsvpc {
		// awsvpc gives each task its own interface in a VPC; on one
		// Docker host the nearest is the bridge network (documented).
		spec.NetworkMode = model.NetworkBridge
	}
	if d.Memory != nil {
		spec.MemoryBytes = int64(*d.Memory) << 20
	}
	if d.MemoryReservation != nil {
		spec.MemoryReservationBytes = int64(*d.MemoryReservation) << 20
	}
	for _, p := range d.PortMappings {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		spec.Ports = append(spec.Ports, runtime.PortSpec{ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: proto})
	}
	spec.Mounts = append(spec.Mounts, r.a.caMount()...)
	for _, mp := range d.MountPoints {
		var vol *model.Volume
		for i := range r.def.Volumes {
			if r.def.Volumes[i].Name == mp.SourceVolume {
				vol = &r.def.Volumes[i]
			}
		}
		if vol == nil {
			return spec, fmt.Errorf("mount point %s: sourceVolume %q is not among the task definition's volumes", mp.ContainerPath, mp.SourceVolume)
		}
		src := ""
		if vol.Host != nil {
			src = vol.Host.SourcePath
		}
		if src == "" {
			src = scratchDir(t.TaskID, vol.Name)
			if err := os.MkdirAll(src, 0o777); err != nil {
				return spec, fmt.Errorf("volume %s: creating its scratch directory: %w", vol.Name, err)
			}
		}
		spec.Mounts = append(spec.Mounts, runtime.Mount{Source: src, Target: mp.ContainerPath, ReadOnly: mp.ReadOnly})
	}
	if hc := d.HealthCheck; hc != nil {
		sec := func(v, def int) time.Duration {
			if v <= 0 {
				v = def
			}
			return time.Duration(v) * time.Second
		}
		retries := hc.Retries
		if retries <= 0 {
			retries = 3
		}
		spec.HealthCheck = &runtime.HealthCheck{
			Test:        slices.Clone(hc.Command),
			Interval:    sec(hc.Interval, 30),
			Timeout:     sec(hc.Timeout, 5),
			Retries:     retries,
			StartPeriod: time.Duration(max(hc.StartPeriod, 0)) * time.Second,
		}
	}
	if lc := d.LogConfiguration; lc != nil && (lc.LogDriver == "" || lc.LogDriver == "json-file") {
		if v := lc.Options["max-size"]; v != "" {
			spec.LogMaxSize = v
		}
		if n, err := strconv.Atoi(lc.Options["max-file"]); err == nil && n > 0 {
			spec.LogMaxFiles = n
		}
	}
	return spec, nil
}
