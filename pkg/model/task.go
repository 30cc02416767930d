package model

import (
	"fmt"
	"time"
)

// Task statuses in the only order a task's LastStatus may move (ECS lifecycle).
const (
	StatusProvisioning   = "PROVISIONING"
	StatusPending        = "PENDING"
	StatusActivating     = "ACTIVATING"
	StatusRunning        = "RUNNING"
	StatusDeactivating   = "DEACTIVATING"
	StatusStopping       = "STOPPING"
	StatusDeprovisioning = "DEPROVISIONING"
	StatusStopped        = "STOPPED"
)

// TaskStatusOrder is the forward order of LastStatus values.
var TaskStatusOrder = []string{
	StatusProvisioning, StatusPending, StatusActivating, StatusRunning,
	StatusDeactivating, StatusStopping, StatusDeprovisioning, StatusStopped,
}

// StatusRank returns the position of s in TaskStatusOrder, or -1.
func StatusRank(s string) int {
	for i, v := range TaskStatusOrder {
		if v == s {
			return i
		}
	}
	return -1
}

// Stop codes (ECS names, plus Orch's own where ECS has none).
const (
	StopTaskFailedToStart         = "TaskFailedToStart"
	StopEssentialContainerExited  = "EssentialContainerExited"
	StopUserInitiated             = "UserInitiated"
	StopServiceSchedulerInitiated = "ServiceSchedulerInitiated"
	// StopNodeLost is Orch's: the task's node stopped heartbeating and did
	// not come back within the grace period.
	StopNodeLost = "NodeLost"
)

// Container statuses reported by agents.
const (
	ContainerPending = "PENDING"
	ContainerCreated = "CREATED"
	ContainerRunning = "RUNNING"
	ContainerStopped = "STOPPED"
)

// Health statuses (ECS names).
const (
	HealthUnknown   = "UNKNOWN"
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
)

// Task is one run of a task definition. DesiredStatus is what users and
// controllers want; LastStatus, Containers and the timestamps are what the
// agent observed. They are never mixed.
type Task struct {
	TaskID            string `json:"taskId"`
	TaskArn           string `json:"taskArn,omitempty"`
	TaskDefinitionArn string `json:"taskDefinitionArn"`
	Family            string `json:"family"`
	Revision          int    `json:"revision"`
	// Group is the task group: "family:NAME" for standalone tasks,
	// "service:NAME" for service tasks (ECS semantics).
	Group     string `json:"group"`
	StartedBy string `json:"startedBy,omitempty"`

	DesiredStatus string `json:"desiredStatus"`
	LastStatus    string `json:"lastStatus"`
	StopCode      string `json:"stopCode,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
	HealthStatus  string `json:"healthStatus,omitempty"`

	// NodeName is set once by the scheduler and never changes.
	NodeName string `json:"nodeName,omitempty"`
	// Requirements are copied from the task definition at creation so the
	// scheduler does not need to read task definitions.
	Requirements         Resources             `json:"requirements"`
	StaticPorts          []string              `json:"staticPorts,omitempty"`
	PlacementStrategy    []PlacementStrategy   `json:"placementStrategy,omitempty"`
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty"`
	// PlacementMessage says why a PENDING task is not placed yet.
	PlacementMessage string `json:"placementMessage,omitempty"`
	// Overrides (ECS RunTask containerOverrides) applied by the agent.
	Overrides []ContainerOverride `json:"overrides,omitempty"`

	Containers []Container `json:"containers,omitempty"`
	Usage      *Usage      `json:"usage,omitempty"`
	// ProtectedUntil is set while the task protects itself from scale-in
	// (the ECS task scale-in protection endpoint its agent serves): a
	// service never stops it to scale in before then.
	ProtectedUntil *time.Time `json:"protectedUntil,omitempty"`

	CreatedAt     time.Time  `json:"createdAt"`
	PlacedAt      *time.Time `json:"placedAt,omitempty"`
	PullStartedAt *time.Time `json:"pullStartedAt,omitempty"`
	StartedAt     *time.Time `json:"startedAt,omitempty"`
	StoppingAt    *time.Time `json:"stoppingAt,omitempty"`
	StoppedAt     *time.Time `json:"stoppedAt,omitempty"`

	Events []TaskEvent `json:"events,omitempty"`
	Tags   []Tag       `json:"tags,omitempty"`

	// ModRevision is the etcd mod revision the task was read at; writes that
	// depend on it are conditional on it. Not stored.
	ModRevision int64 `json:"-"`
}

// ContainerOverride is ECS's RunTask containerOverrides entry (subset).
type ContainerOverride struct {
	Name        string         `json:"name"`
	Command     []string       `json:"command,omitempty"`
	Environment []KeyValuePair `json:"environment,omitempty"`
}

// Container is the observed state of one container of a task.
type Container struct {
	Name            string           `json:"name"`
	Image           string           `json:"image,omitempty"`
	RuntimeID       string           `json:"runtimeId,omitempty"`
	LastStatus      string           `json:"lastStatus"`
	ExitCode        *int             `json:"exitCode,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	HealthStatus    string           `json:"healthStatus,omitempty"`
	Essential       bool             `json:"essential"`
	NetworkBindings []NetworkBinding `json:"networkBindings,omitempty"`
}

// NetworkBinding is a published port (ECS shape).
type NetworkBinding struct {
	BindIP        string `json:"bindIP,omitempty"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// Usage is the resource usage the agent last measured.
type Usage struct {
	CPUPercent  float64   `json:"cpuPercent"`
	MemoryBytes int64     `json:"memoryBytes"`
	At          time.Time `json:"at"`
}

// TaskEvent is one line of a task's history.
type TaskEvent struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// maxTaskEvents bounds a task's history so the etcd value stays small.
const maxTaskEvents = 30

// AddEvent appends to the history, dropping the oldest beyond a bound.
func (t *Task) AddEvent(at time.Time, format string, args ...any) {
	t.Events = append(t.Events, TaskEvent{At: at.UTC(), Message: Clip(fmt.Sprintf(format, args...), MaxEventMessage)})
	if n := len(t.Events); n > maxTaskEvents {
		t.Events = append(t.Events[:0:0], t.Events[n-maxTaskEvents:]...)
	}
}

// Advance moves LastStatus forward to s. It reports false (and changes
// nothing) when s is unknown or not after the current status.
func (t *Task) Advance(s string) bool {
	r := StatusRank(s)
	if r < 0 || r <= StatusRank(t.LastStatus) {
		return false
	}
	t.LastStatus = s
	return true
}

// ScaleInProtected reports whether the task is protected from scale-in at now.
func (t *Task) ScaleInProtected(now time.Time) bool {
	return t.ProtectedUntil != nil && now.Before(*t.ProtectedUntil)
}

// IsStopped reports whether the task reached its final status.
func (t *Task) IsStopped() bool { return t.LastStatus == StatusStopped }

// IsPlaced reports whether the scheduler assigned the task to a node.
func (t *Task) IsPlaced() bool { return t.NodeName != "" }

// NeedsPlacement reports whether the scheduler should try to place the task.
func (t *Task) NeedsPlacement() bool {
	return t.NodeName == "" && t.DesiredStatus == StatusRunning && !t.IsStopped()
}

// Holds reports whether the task occupies resources on its node.
func (t *Task) Holds() bool { return t.NodeName != "" && !t.IsStopped() }

// ShortID is the first 8 characters of the id, used in tables.
func (t *Task) ShortID() string {
	if len(t.TaskID) > 8 {
		return t.TaskID[:8]
	}
	return t.TaskID
}

// Stop marks the task stopped now with code and reason (for tasks that never
// reached an agent, or whose agent is gone).
func (t *Task) Stop(now time.Time, code, reason string) {
	t.DesiredStatus = StatusStopped
	if t.StopCode == "" {
		t.StopCode, t.StoppedReason = code, reason
	}
	if t.Advance(StatusStopped) {
		now = now.UTC()
		t.StoppedAt = &now
		t.AddEvent(now, "stopped: %s", t.StoppedReason)
	}
}

// TaskArnFor builds the ECS-style ARN for a task id.
func TaskArnFor(id string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/default/%s", Region, AccountID, id)
}
