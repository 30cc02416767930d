package docker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// Stats takes one sample (stream=false: the daemon waits for a second
// reading, so the CPU delta is meaningful). CPUPercent is relative to one
// CPU (200 = two CPUs busy), as `docker stats` shows it; MemoryBytes is
// usage minus the page cache.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	resp, err := r.api.ContainerStats(ctx, id, false)
	if err != nil {
		return runtime.Stats{}, wrap(err, "docker stats %s", id)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return runtime.Stats{}, fmt.Errorf("docker stats %s: decode: %w", id, err)
	}
	return runtime.Stats{CPUPercent: cpuPercent(s), MemoryBytes: memoryUsage(s.MemoryStats)}, nil
}

// cpuPercent is the container's share of the host's CPU time between the
// two readings, scaled by the number of CPUs (the docker CLI's formula).
func cpuPercent(s container.StatsResponse) float64 {
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	if cpuDelta <= 0 || sysDelta <= 0 {
		return 0
	}
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpus == 0 {
		cpus = 1
	}
	return cpuDelta / sysDelta * cpus * 100
}

// memoryUsage is usage minus cache: total_inactive_file on cgroup v1,
// inactive_file on cgroup v2 (as the docker CLI computes it), falling back to
// the v1 "cache" counter.
func memoryUsage(m container.MemoryStats) int64 {
	usage := m.Usage
	for _, key := range []string{"total_inactive_file", "inactive_file", "cache"} {
		if v, ok := m.Stats[key]; ok {
			if v < usage {
				return int64(usage - v)
			}
			break
		}
	}
	return int64(usage)
}
