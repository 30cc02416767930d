package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/placement"
)

// Task definition limits. They follow ECS RegisterTaskDefinition so that a
// task definition ECS accepts is accepted here too.
const (
	MaxContainers         = 10     // containers per task definition
	MinContainerMemoryMiB = 6      // Docker's minimum memory limit
	MinTaskCPU            = 128    // task-level cpu, units (0.125 vCPU)
	MaxTaskCPU            = 196608 // task-level cpu, units (192 vCPU)
	MinTaskMemoryMiB      = 6
	// MaxMemoryMiB bounds task and container memory (16 TiB): far above
	// any host, and far enough from overflow that sums of ten containers
	// and a node's thousands of tasks stay exact (issue 12: 2^62 was
	// accepted, the sums overflowed and the tasks stayed PENDING forever).
	MaxMemoryMiB = 1 << 24
	// MaxContainerCPU bounds a container's cpu (units) as MaxTaskCPU does a task's.
	MaxContainerCPU = MaxTaskCPU
	MaxStopTimeout  = 120 // seconds
	MaxNameLength   = 255 // family, container and volume names
)

// Network modes (ECS). An empty NetworkMode means bridge.
const (
	NetworkBridge = "bridge"
	NetworkHost   = "host"
	NetworkAwsvpc = "awsvpc"
	NetworkNone   = "none"
)

// Normalize rewrites equivalent forms into one: task-level cpu and memory
// become plain integers ("1 vCPU" → "1024", "2 GB" → "2048") and port
// mappings get their default protocol "tcp". Values it cannot parse are left
// alone for Validate to report.
func (td *TaskDefinition) Normalize() {
	if n, err := ParseTaskCPU(td.Cpu); td.Cpu != "" && err == nil {
		td.Cpu = strconv.Itoa(n)
	}
	if n, err := ParseTaskMemory(td.Memory); td.Memory != "" && err == nil {
		td.Memory = strconv.Itoa(n)
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		for j := range c.PortMappings {
			if c.PortMappings[j].Protocol == "" {
				c.PortMappings[j].Protocol = "tcp"
			}
		}
	}
}

// Validate checks td against the rules of ECS RegisterTaskDefinition (for the
// EC2 launch type) plus Orch's own fields. It returns nil or FieldErrors whose
// paths name the offending field ("containerDefinitions[1].memory") and whose
// messages say how to fix it. Validate accepts task-level cpu and memory in
// any form Normalize understands.
func (td *TaskDefinition) Validate() error {
	v := &tdValidator{td: td}
	v.task()
	v.volumes()
	v.containers()
	v.dependencies()
	v.placement()
	return v.errs.Err()
}

type tdValidator struct {
	td        *TaskDefinition
	errs      FieldErrors
	taskCPU   int  // 0 when unset or invalid
	taskMem   int  // 0 when unset or invalid
	memOver   bool // a container alone asks for more than the task memory
	volumeSet map[string]bool
}

func (v *tdValidator) add(path, format string, args ...any) {
	v.errs.Add(path, fmt.Sprintf(format, args...))
}

func (v *tdValidator) task() {
	td := v.td
	switch {
	case td.Family == "":
		v.add("family", "required: name the task definition family (1-255 letters, digits, hyphens or underscores)")
	case !ValidName(td.Family, MaxNameLength):
		v.add("family", "%q is not a valid family: use 1-255 letters, digits, hyphens or underscores", td.Family)
	}
	if td.TaskRoleArn != "" && RoleNameFromArn(td.TaskRoleArn) == "" {
		v.add("taskRoleArn", "%q is not a role ARN: write %s (a Role of this cluster)", td.TaskRoleArn, RoleArn("NAME"))
	}
	if td.Cpu != "" {
		n, err := ParseTaskCPU(td.Cpu)
		switch {
		case err != nil:
			v.add("cpu", "%v", err)
		case n < MinTaskCPU || n > MaxTaskCPU:
			v.add("cpu", "must be between %d and %d CPU units (0.125 to 192 vCPU), got %d", MinTaskCPU, MaxTaskCPU, n)
		default:
			v.taskCPU = n
		}
	}
	if td.Memory != "" {
		n, err := ParseTaskMemory(td.Memory)
		switch {
		case err != nil:
			v.add("memory", "%v", err)
		case n < MinTaskMemoryMiB:
			v.add("memory", "must be at least %d MiB, got %d", MinTaskMemoryMiB, n)
		case n > MaxMemoryMiB:
			v.add("memory", "must be at most %d MiB (16 TiB), got %d", MaxMemoryMiB, n)
		default:
			v.taskMem = n
		}
	}
	switch td.NetworkMode {
	case "", NetworkBridge, NetworkHost, NetworkAwsvpc, NetworkNone:
	default:
		v.add("networkMode", "must be one of bridge, host, awsvpc or none, got %q", td.NetworkMode)
	}
	for i, t := range td.Tags {
		if t.Key == "" {
			v.add(fmt.Sprintf("tags[%d].key", i), "required: every tag needs a key")
		}
	}
}

func (v *tdValidator) volumes() {
	v.volumeSet = map[string]bool{}
	for i, vol := range v.td.Volumes {
		p := fmt.Sprintf("volumes[%d].name", i)
		switch {
		case vol.Name == "":
			v.add(p, "required: name the volume so that mountPoints can refer to it")
		case !ValidName(vol.Name, MaxNameLength):
			v.add(p, "%q is not a valid volume name: use 1-255 letters, digits, hyphens or underscores", vol.Name)
		case v.volumeSet[vol.Name]:
			v.add(p, "duplicate volume name %q: volume names must be unique", vol.Name)
		}
		v.volumeSet[vol.Name] = true
	}
}

// containerNames lists the container names for messages: "web, sidecar".
func (v *tdValidator) containerNames() string {
	names := make([]string, 0, len(v.td.ContainerDefinitions))
	for _, c := range v.td.ContainerDefinitions {
		if c.Name != "" {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (v *tdValidator) containers() {
	cs := v.td.ContainerDefinitions
	switch {
	case len(cs) == 0:
		v.add("containerDefinitions", "required: define at least one container (name and image)")
		return
	case len(cs) > MaxContainers:
		v.add("containerDefinitions", "has %d containers; a task definition holds at most %d (split it into several task definitions)", len(cs), MaxContainers)
	}
	names := map[string]int{}
	hostPorts := map[string]string{} // "tcp/80" → path of the first mapping using it
	essential, cpuSum, memSum := 0, 0, 0
	for i := range cs {
		c := &cs[i]
		p := fmt.Sprintf("containerDefinitions[%d]", i)
		switch {
		case c.Name == "":
			v.add(p+".name", "required: name the container (1-255 letters, digits, hyphens or underscores)")
		case !ValidName(c.Name, MaxNameLength):
			v.add(p+".name", "%q is not a valid container name: use 1-255 letters, digits, hyphens or underscores", c.Name)
		default:
			if first, dup := names[c.Name]; dup {
				v.add(p+".name", "duplicate container name %q (also containerDefinitions[%d]): container names must be unique", c.Name, first)
			} else {
				names[c.Name] = i
			}
		}
		if strings.TrimSpace(c.Image) == "" {
			v.add(p+".image", "required: the image to run, e.g. nginx:1.27 or registry.example.com/app:v2")
		}
		if c.IsEssential() {
			essential++
		}
		if c.Cpu < 0 {
			v.add(p+".cpu", "must not be negative (CPU units, 1024 = 1 vCPU)")
		} else if c.Cpu > MaxContainerCPU {
			v.add(p+".cpu", "must be at most %d (CPU units, 1024 = 1 vCPU), got %d", MaxContainerCPU, c.Cpu)
		} else {
			cpuSum += c.Cpu
		}
		v.memory(p, c)
		if m := c.ReservedMemory(); m > 0 {
			memSum += m
		}
		v.ports(p, c, hostPorts)
		v.healthCheck(p, c.HealthCheck)
		if c.StopTimeout != nil && (*c.StopTimeout < 0 || *c.StopTimeout > MaxStopTimeout) {
			v.add(p+".stopTimeout", "must be between 0 and %d seconds, got %d", MaxStopTimeout, *c.StopTimeout)
		}
		if c.StartTimeout != nil && *c.StartTimeout < 0 {
			v.add(p+".startTimeout", "must not be negative (seconds), got %d", *c.StartTimeout)
		}
		for j, mp := range c.MountPoints {
			mpath := fmt.Sprintf("%s.mountPoints[%d]", p, j)
			switch {
			case mp.SourceVolume == "":
				v.add(mpath+".sourceVolume", "required: the name of a volume under volumes")
			case !v.volumeSet[mp.SourceVolume] && len(v.td.Volumes) == 0:
				v.add(mpath+".sourceVolume", "%q names no volume; the task defines none: add {name: %s} under volumes", mp.SourceVolume, mp.SourceVolume)
			case !v.volumeSet[mp.SourceVolume]:
				v.add(mpath+".sourceVolume", "%q names no volume; volumes are: %s", mp.SourceVolume, v.volumeNames())
			}
			if mp.ContainerPath == "" {
				v.add(mpath+".containerPath", "required: where the volume appears inside the container, e.g. /data")
			}
		}
		for j, e := range c.Environment {
			if e.Name == "" {
				v.add(fmt.Sprintf("%s.environment[%d].name", p, j), "required: every environment variable needs a name")
			}
		}
		if c.LogConfiguration != nil && c.LogConfiguration.LogDriver == "" {
			v.add(p+".logConfiguration.logDriver", "required: e.g. json-file or awslogs")
		}
		switch c.ImagePullPolicy {
		case "", PullAlways, PullIfNotPresent, PullNever:
		default:
			v.add(p+".imagePullPolicy", "must be one of always, if-not-present or never, got %q", c.ImagePullPolicy)
		}
	}
	if essential == 0 {
		v.add("containerDefinitions", "no container is essential: at least one must be (essential defaults to true; remove essential: false from one)")
	}
	if v.taskMem > 0 && memSum > v.taskMem && !v.memOver {
		v.add("memory", "the containers reserve %d MiB in total, more than the task's %d MiB: raise the task memory or lower the containers' memoryReservation or memory", memSum, v.taskMem)
	}
	if v.taskCPU > 0 && cpuSum > v.taskCPU {
		v.add("cpu", "the containers reserve %d CPU units in total, more than the task's %d: raise the task cpu or lower the containers' cpu", cpuSum, v.taskCPU)
	}
}

func (v *tdValidator) volumeNames() string {
	names := make([]string, 0, len(v.td.Volumes))
	for _, vol := range v.td.Volumes {
		names = append(names, vol.Name)
	}
	return strings.Join(names, ", ")
}

func (v *tdValidator) memory(p string, c *ContainerDefinition) {
	if c.Memory != nil {
		switch {
		case *c.Memory < MinContainerMemoryMiB:
			v.add(p+".memory", "must be at least %d MiB, got %d", MinContainerMemoryMiB, *c.Memory)
		case *c.Memory > MaxMemoryMiB:
			v.add(p+".memory", "must be at most %d MiB (16 TiB), got %d", MaxMemoryMiB, *c.Memory)
		case v.taskMem > 0 && *c.Memory > v.taskMem:
			v.memOver = true
			v.add(p+".memory", "%d MiB is more than the task's memory (%d MiB): lower it or raise the task memory", *c.Memory, v.taskMem)
		}
	}
	if c.MemoryReservation != nil {
		switch {
		case *c.MemoryReservation < MinContainerMemoryMiB:
			v.add(p+".memoryReservation", "must be at least %d MiB, got %d", MinContainerMemoryMiB, *c.MemoryReservation)
		case *c.MemoryReservation > MaxMemoryMiB:
			v.add(p+".memoryReservation", "must be at most %d MiB (16 TiB), got %d", MaxMemoryMiB, *c.MemoryReservation)
		case c.Memory != nil && *c.Memory >= MinContainerMemoryMiB && *c.MemoryReservation > *c.Memory:
			v.add(p+".memoryReservation", "%d MiB is more than memory (%d MiB): the soft limit must not exceed the hard limit", *c.MemoryReservation, *c.Memory)
		case v.taskMem > 0 && *c.MemoryReservation > v.taskMem:
			v.memOver = true
			v.add(p+".memoryReservation", "%d MiB is more than the task's memory (%d MiB): lower it or raise the task memory", *c.MemoryReservation, v.taskMem)
		}
	}
	if c.Memory == nil && c.MemoryReservation == nil && v.td.Memory == "" {
		v.add(p+".memory", "required when the task sets no memory: set memory (hard limit, MiB), memoryReservation (soft limit, MiB) or the task-level memory")
	}
}

func (v *tdValidator) ports(p string, c *ContainerDefinition, used map[string]string) {
	mode := v.td.NetworkMode
	if mode == NetworkNone && len(c.PortMappings) > 0 {
		v.add(p+".portMappings", "not allowed with networkMode none: remove the port mappings or change networkMode")
		return
	}
	for j, pm := range c.PortMappings {
		pp := fmt.Sprintf("%s.portMappings[%d]", p, j)
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			if pm.ContainerPort == 0 {
				v.add(pp+".containerPort", "required: the port the container listens on (1-65535)")
			} else {
				v.add(pp+".containerPort", "must be between 1 and 65535, got %d", pm.ContainerPort)
			}
			continue
		}
		if pm.HostPort < 0 || pm.HostPort > 65535 {
			v.add(pp+".hostPort", "must be between 0 and 65535 (0 picks a free port), got %d", pm.HostPort)
			continue
		}
		switch pm.Protocol {
		case "", "tcp", "udp":
		default:
			v.add(pp+".protocol", `must be "tcp" or "udp", got %q`, pm.Protocol)
			continue
		}
		host := pm.HostPort
		if mode == NetworkHost || mode == NetworkAwsvpc {
			if host != 0 && host != pm.ContainerPort {
				v.add(pp+".hostPort", "must equal containerPort (%d) or be omitted with networkMode %s, got %d", pm.ContainerPort, mode, host)
				continue
			}
			host = pm.ContainerPort
		}
		if host == 0 {
			continue
		}
		key := PortKey(pm.Protocol, host)
		if first, dup := used[key]; dup {
			v.add(pp+".hostPort", "host port %s is already used by %s: pick another hostPort, or omit it for a dynamic port", key, first)
			continue
		}
		used[key] = pp
	}
}

func (v *tdValidator) healthCheck(p string, hc *HealthCheck) {
	if hc == nil {
		return
	}
	p += ".healthCheck"
	switch {
	case len(hc.Command) == 0:
		v.add(p+".command", `required: ["CMD", "executable", "arg"] or ["CMD-SHELL", "shell command"]`)
	case hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL":
		v.add(p+".command[0]", `must be "CMD" or "CMD-SHELL", got %q: write e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]`, hc.Command[0])
	case len(hc.Command) == 1:
		v.add(p+".command", "has nothing to run after %s: add the command", hc.Command[0])
	}
	rng := func(field string, val, lo, hi int, unit string) {
		if val < lo || val > hi {
			v.add(p+"."+field, "must be between %d and %d%s, got %d", lo, hi, unit, val)
		}
	}
	// Zero means "use the default" (the fields are omitempty).
	if hc.Interval != 0 {
		rng("interval", hc.Interval, 5, 300, " seconds")
	}
	if hc.Timeout != 0 {
		rng("timeout", hc.Timeout, 2, 60, " seconds")
	}
	if hc.Retries != 0 {
		rng("retries", hc.Retries, 1, 10, "")
	}
	rng("startPeriod", hc.StartPeriod, 0, 300, " seconds")
}

func (v *tdValidator) dependencies() {
	cs := v.td.ContainerDefinitions
	index := map[string]int{}
	for i, c := range cs {
		if _, dup := index[c.Name]; !dup && c.Name != "" {
			index[c.Name] = i
		}
	}
	edges := make([][]int, len(cs)) // edges[i]: containers i waits for (valid references only)
	edgePath := map[[2]int]string{}
	for i, c := range cs {
		for j, d := range c.DependsOn {
			dp := fmt.Sprintf("containerDefinitions[%d].dependsOn[%d]", i, j)
			t, ok := index[d.ContainerName]
			switch {
			case d.ContainerName == "":
				v.add(dp+".containerName", "required: the name of the container to wait for; containers are: %s", v.containerNames())
			case d.ContainerName == c.Name:
				v.add(dp+".containerName", "%q is this container itself: a container cannot depend on itself", d.ContainerName)
			case !ok:
				v.add(dp+".containerName", "%q names no container; containers are: %s", d.ContainerName, v.containerNames())
			default:
				edges[i] = append(edges[i], t)
				if _, seen := edgePath[[2]int{i, t}]; !seen {
					edgePath[[2]int{i, t}] = dp
				}
			}
			switch d.Condition {
			case DependStart:
			case DependComplete, DependSuccess:
				if ok && d.ContainerName != c.Name && cs[t].IsEssential() {
					v.add(dp+".condition", "%s waits for %q to exit, but %q is essential (its exit stops the task): set essential: false on %q or use condition START", d.Condition, d.ContainerName, d.ContainerName, d.ContainerName)
				}
			case DependHealthy:
				if ok && d.ContainerName != c.Name && cs[t].HealthCheck == nil {
					v.add(dp+".condition", "HEALTHY needs a health check, but %q has none: add a healthCheck to %q or use condition START", d.ContainerName, d.ContainerName)
				}
			case "":
				v.add(dp+".condition", "required: one of START, COMPLETE, SUCCESS or HEALTHY")
			default:
				v.add(dp+".condition", "must be one of START, COMPLETE, SUCCESS or HEALTHY, got %q", d.Condition)
			}
		}
	}
	// Depth-first search for cycles; each back edge closes one cycle.
	const (
		unvisited = iota
		active
		done
	)
	state := make([]int, len(cs))
	var stack []int
	var visit func(i int)
	visit = func(i int) {
		state[i] = active
		stack = append(stack, i)
		for _, t := range edges[i] {
			switch state[t] {
			case unvisited:
				visit(t)
			case active:
				var names []string
				for k := len(stack) - 1; k >= 0; k-- {
					names = append([]string{cs[stack[k]].Name}, names...)
					if stack[k] == t {
						break
					}
				}
				names = append(names, cs[t].Name)
				v.add(edgePath[[2]int{i, t}], "dependency cycle %s: the containers would wait for each other forever; remove one of these dependsOn entries", strings.Join(names, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range cs {
		if state[i] == unvisited {
			visit(i)
		}
	}
}

// placement checks the placement constraints with the placement language,
// under ECS's rules for task definitions (memberOf only).
func (v *tdValidator) placement() {
	v.errs = append(v.errs, fieldErrors(placement.ValidateTaskDefinition(v.td.PlacementConstraints))...)
}
