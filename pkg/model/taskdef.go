package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TaskDefinition is an immutable revision of a family, shaped like ECS
// RegisterTaskDefinition's input plus the fields DescribeTaskDefinition adds.
type TaskDefinition struct {
	Family               string                `json:"family"`
	Revision             int                   `json:"revision,omitempty"`
	TaskDefinitionArn    string                `json:"taskDefinitionArn,omitempty"`
	Status               string                `json:"status,omitempty"` // ACTIVE or INACTIVE
	ContainerDefinitions []ContainerDefinition `json:"containerDefinitions"`
	// Cpu and Memory are the task-level sizes. ECS accepts numbers or strings
	// ("1024", "1 vCPU", "2 GB"); the manifest package normalises them to
	// plain integers in strings ("1024", "2048").
	Cpu         string `json:"cpu,omitempty"`
	Memory      string `json:"memory,omitempty"`
	NetworkMode string `json:"networkMode,omitempty"`
	// TaskRoleArn names the Role (arn:aws:iam::000000000000:role/NAME)
	// whose policy the task's credentials carry; none: the task gets no
	// AWS credentials.
	TaskRoleArn          string                `json:"taskRoleArn,omitempty"`
	Volumes              []Volume              `json:"volumes,omitempty"`
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty"`
	Tags                 []Tag                 `json:"tags,omitempty"`
	RegisteredAt         *time.Time            `json:"registeredAt,omitempty"`
	DeregisteredAt       *time.Time            `json:"deregisteredAt,omitempty"`
	// IgnoredFields lists the JSON paths of fields that were accepted but
	// that Orch does not act on (e.g. "executionRoleArn").
	IgnoredFields []string `json:"ignoredFields,omitempty"`
}

// ContainerDefinition is one container of a task definition (ECS shape).
type ContainerDefinition struct {
	Name              string                `json:"name"`
	Image             string                `json:"image"`
	Cpu               int                   `json:"cpu,omitempty"`
	Memory            *int                  `json:"memory,omitempty"`            // hard limit, MiB
	MemoryReservation *int                  `json:"memoryReservation,omitempty"` // soft limit, MiB
	Essential         *bool                 `json:"essential,omitempty"`         // default true
	Command           []string              `json:"command,omitempty"`
	EntryPoint        []string              `json:"entryPoint,omitempty"`
	Environment       []KeyValuePair        `json:"environment,omitempty"`
	PortMappings      []PortMapping         `json:"portMappings,omitempty"`
	WorkingDirectory  string                `json:"workingDirectory,omitempty"`
	User              string                `json:"user,omitempty"`
	MountPoints       []MountPoint          `json:"mountPoints,omitempty"`
	DependsOn         []ContainerDependency `json:"dependsOn,omitempty"`
	HealthCheck       *HealthCheck          `json:"healthCheck,omitempty"`
	StartTimeout      *int                  `json:"startTimeout,omitempty"`
	StopTimeout       *int                  `json:"stopTimeout,omitempty"` // seconds, default 30
	LogConfiguration  *LogConfiguration     `json:"logConfiguration,omitempty"`
	DockerLabels      map[string]string     `json:"dockerLabels,omitempty"`
	// ImagePullPolicy is an Orch extension: always, if-not-present (default) or never.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
}

// Image pull policies.
const (
	PullAlways       = "always"
	PullIfNotPresent = "if-not-present"
	PullNever        = "never"
)

// IsEssential reports whether the task stops when this container stops.
func (c ContainerDefinition) IsEssential() bool { return c.Essential == nil || *c.Essential }

// StopTimeoutOrDefault is how long to wait after the stop signal before killing.
func (c ContainerDefinition) StopTimeoutOrDefault() time.Duration {
	if c.StopTimeout == nil {
		return 30 * time.Second
	}
	return time.Duration(*c.StopTimeout) * time.Second
}

// PullPolicy returns the effective image pull policy.
func (c ContainerDefinition) PullPolicy() string {
	if c.ImagePullPolicy == "" {
		return PullIfNotPresent
	}
	return c.ImagePullPolicy
}

// ReservedMemory is the memory the scheduler reserves for the container:
// the soft limit when set, else the hard limit (ECS semantics).
func (c ContainerDefinition) ReservedMemory() int {
	if c.MemoryReservation != nil {
		return *c.MemoryReservation
	}
	if c.Memory != nil {
		return *c.Memory
	}
	return 0
}

type KeyValuePair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type PortMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort,omitempty"` // 0: the agent picks a dynamic port
	Protocol      string `json:"protocol,omitempty"` // tcp (default) or udp
	Name          string `json:"name,omitempty"`
}

type MountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

type Volume struct {
	Name string            `json:"name"`
	Host *HostVolumeSource `json:"host,omitempty"`
}

type HostVolumeSource struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// Dependency conditions for ContainerDependency.Condition.
const (
	DependStart    = "START"
	DependComplete = "COMPLETE"
	DependSuccess  = "SUCCESS"
	DependHealthy  = "HEALTHY"
)

type ContainerDependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

// HealthCheck mirrors ECS: Command is ["CMD", ...] or ["CMD-SHELL", "..."];
// durations are seconds.
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval,omitempty"`    // default 30
	Timeout     int      `json:"timeout,omitempty"`     // default 5
	Retries     int      `json:"retries,omitempty"`     // default 3
	StartPeriod int      `json:"startPeriod,omitempty"` // default 0
}

type LogConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Ref returns "family:revision".
func (td *TaskDefinition) Ref() string { return fmt.Sprintf("%s:%d", td.Family, td.Revision) }

// Arn returns the ECS-style ARN of this revision.
func (td *TaskDefinition) Arn() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", Region, AccountID, td.Family, td.Revision)
}

// ContentHash identifies the user-supplied content of a revision, ignoring
// server-assigned fields, so that re-applying identical content is a no-op.
func (td *TaskDefinition) ContentHash() string {
	c := *td
	c.Revision, c.TaskDefinitionArn, c.Status = 0, "", ""
	c.RegisteredAt, c.DeregisteredAt = nil, nil
	b, _ := json.Marshal(c) // cannot fail: plain data
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Requirements is what the scheduler must find free on a node.
func (td *TaskDefinition) Requirements() Resources {
	var r Resources
	for _, c := range td.ContainerDefinitions {
		r.CPU += c.Cpu
		r.MemoryMiB += c.ReservedMemory()
	}
	if n, err := strconv.Atoi(td.Cpu); err == nil && n > 0 {
		r.CPU = n
	}
	if n, err := strconv.Atoi(td.Memory); err == nil && n > 0 {
		r.MemoryMiB = n
	}
	return r
}

// StaticHostPorts lists the fixed host ports the task needs ("tcp/80").
func (td *TaskDefinition) StaticHostPorts() []string {
	var ports []string
	for _, c := range td.ContainerDefinitions {
		for _, p := range c.PortMappings {
			if p.HostPort > 0 {
				ports = append(ports, PortKey(p.Protocol, p.HostPort))
			}
		}
	}
	return ports
}

// PortKey is the canonical name of a host port: "tcp/8080".
func PortKey(protocol string, port int) string {
	if protocol == "" {
		protocol = "tcp"
	}
	return strings.ToLower(protocol) + "/" + strconv.Itoa(port)
}

// Container returns the definition with the given name, or nil.
func (td *TaskDefinition) Container(name string) *ContainerDefinition {
	for i := range td.ContainerDefinitions {
		if td.ContainerDefinitions[i].Name == name {
			return &td.ContainerDefinitions[i]
		}
	}
	return nil
}

// ParseRef splits "family:rev" or "family"; rev is 0 when absent (latest).
// ARNs ("arn:aws:ecs:...:task-definition/family:3") are accepted too.
func ParseRef(ref string) (family string, rev int, err error) {
	if i := strings.LastIndex(ref, "task-definition/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		ref = ref[i+len("task-definition/"):]
	}
	family = ref
	if i := strings.LastIndexByte(ref, ':'); i >= 0 {
		family = ref[:i]
		rev, err = strconv.Atoi(ref[i+1:])
		if err != nil || rev < 1 {
			return "", 0, fmt.Errorf("task definition %q: revision must be a positive integer (use FAMILY or FAMILY:REVISION)", ref)
		}
	}
	if !ValidName(family, 255) {
		return "", 0, fmt.Errorf("task definition %q: family must be 1-255 letters, digits, hyphens or underscores", ref)
	}
	return family, rev, nil
}

// ValidName reports whether s is 1..max characters of [A-Za-z0-9_-].
func ValidName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Region appears in ARNs. Orch is one account (AccountID) in one region.
var Region = DefaultRegion
