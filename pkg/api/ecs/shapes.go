package ecs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// ECS's output shapes, built from model objects. Field names are ECS's;
// timestamps are epoch seconds with a fraction, as the JSON protocols'
// deserializers expect.

// ClusterName is Orch's one cluster.
const ClusterName = "default"

func clusterArn() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", model.Region, model.AccountID, ClusterName)
}

func instanceArn(node string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:container-instance/%s/%s", model.Region, model.AccountID, ClusterName, node)
}

// epoch is a time written as epoch seconds with milliseconds (1700000000.123).
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)), nil
}

func at(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

func atPtr(t *time.Time) *epoch {
	if t == nil {
		return nil
	}
	return at(*t)
}

// checkCluster accepts the one cluster by name or ARN, or nothing.
func checkCluster(c string) error {
	if c == "" || c == ClusterName || c == clusterArn() {
		return nil
	}
	return ecsErr(codeClusterNotFound, "Cluster %s not found: Orch has one cluster, %q (%s).", c, ClusterName, clusterArn())
}

// lastPart is the id at the end of an ARN ("arn:...:task/default/ID" -> "ID"),
// or s itself.
func lastPart(s string) string {
	if strings.HasPrefix(s, "arn:") {
		return s[strings.LastIndexByte(s, '/')+1:]
	}
	return s
}

type tag = model.Tag

type failure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// --- task definitions

// taskDefOut is model.TaskDefinition (already ECS-shaped) with ECS's
// timestamps and the fields ECS always reports.
type taskDefOut struct {
	*model.TaskDefinition
	RegisteredAt            *epoch   `json:"registeredAt,omitempty"`
	DeregisteredAt          *epoch   `json:"deregisteredAt,omitempty"`
	Compatibilities         []string `json:"compatibilities"`
	RequiresCompatibilities []string `json:"requiresCompatibilities,omitempty"`
	Tags                    []tag    `json:"-"` // ECS returns tags beside the task definition
}

func taskDefShape(td *model.TaskDefinition) *taskDefOut {
	if td == nil {
		return nil
	}
	return &taskDefOut{TaskDefinition: td, RegisteredAt: atPtr(td.RegisteredAt), DeregisteredAt: atPtr(td.DeregisteredAt),
		Compatibilities: []string{"EC2"}}
}

// --- tasks

type taskOut struct {
	TaskArn              string         `json:"taskArn"`
	ClusterArn           string         `json:"clusterArn"`
	TaskDefinitionArn    string         `json:"taskDefinitionArn"`
	ContainerInstanceArn string         `json:"containerInstanceArn,omitempty"`
	LastStatus           string         `json:"lastStatus"`
	DesiredStatus        string         `json:"desiredStatus"`
	HealthStatus         string         `json:"healthStatus,omitempty"`
	Group                string         `json:"group,omitempty"`
	StartedBy            string         `json:"startedBy,omitempty"`
	StopCode             string         `json:"stopCode,omitempty"`
	StoppedReason        string         `json:"stoppedReason,omitempty"`
	Cpu                  string         `json:"cpu,omitempty"`
	Memory               string         `json:"memory,omitempty"`
	LaunchType           string         `json:"launchType"`
	Containers           []containerOut `json:"containers"`
	Overrides            taskOverride   `json:"overrides"`
	CreatedAt            *epoch         `json:"createdAt,omitempty"`
	PullStartedAt        *epoch         `json:"pullStartedAt,omitempty"`
	StartedAt            *epoch         `json:"startedAt,omitempty"`
	StoppingAt           *epoch         `json:"stoppingAt,omitempty"`
	StoppedAt            *epoch         `json:"stoppedAt,omitempty"`
	Version              int64          `json:"version"`
	Tags                 []tag          `json:"tags,omitempty"`
}

type containerOut struct {
	ContainerArn    string                 `json:"containerArn"`
	TaskArn         string                 `json:"taskArn"`
	Name            string                 `json:"name"`
	Image           string                 `json:"image,omitempty"`
	RuntimeID       string                 `json:"runtimeId,omitempty"`
	LastStatus      string                 `json:"lastStatus"`
	ExitCode        *int                   `json:"exitCode,omitempty"`
	Reason          string                 `json:"reason,omitempty"`
	HealthStatus    string                 `json:"healthStatus,omitempty"`
	NetworkBindings []model.NetworkBinding `json:"networkBindings,omitempty"`
}

// taskOverride is ECS's TaskOverride.
type taskOverride struct {
	ContainerOverrides []model.ContainerOverride `json:"containerOverrides"`
}

// containerArn names a task's container as ECS does.
func containerArn(taskID, name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:container/%s/%s/%s", model.Region, model.AccountID, ClusterName, taskID, name)
}

func taskShape(t *model.Task) taskOut {
	arn := model.TaskArnFor(t.TaskID)
	o := taskOut{
		TaskArn: arn, ClusterArn: clusterArn(), TaskDefinitionArn: t.TaskDefinitionArn,
		LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus, HealthStatus: t.HealthStatus,
		Group: t.Group, StartedBy: t.StartedBy, StopCode: t.StopCode, StoppedReason: t.StoppedReason,
		LaunchType: "EC2", Containers: []containerOut{}, Overrides: taskOverride{ContainerOverrides: t.Overrides},
		CreatedAt: at(t.CreatedAt), PullStartedAt: atPtr(t.PullStartedAt), StartedAt: atPtr(t.StartedAt),
		StoppingAt: atPtr(t.StoppingAt), StoppedAt: atPtr(t.StoppedAt), Version: t.ModRevision, Tags: t.Tags,
	}
	if o.Overrides.ContainerOverrides == nil {
		o.Overrides.ContainerOverrides = []model.ContainerOverride{}
	}
	if t.Requirements.CPU > 0 {
		o.Cpu = strconv.Itoa(t.Requirements.CPU)
	}
	if t.Requirements.MemoryMiB > 0 {
		o.Memory = strconv.Itoa(t.Requirements.MemoryMiB)
	}
	if t.NodeName != "" {
		o.ContainerInstanceArn = instanceArn(t.NodeName)
	}
	for _, c := range t.Containers {
		o.Containers = append(o.Containers, containerOut{
			ContainerArn: containerArn(t.TaskID, c.Name),
			TaskArn:      arn, Name: c.Name, Image: c.Image, RuntimeID: c.RuntimeID, LastStatus: c.LastStatus,
			ExitCode: c.ExitCode, Reason: c.Reason, HealthStatus: c.HealthStatus, NetworkBindings: c.NetworkBindings,
		})
	}
	return o
}

// --- services

type serviceOut struct {
	ServiceArn                    string                         `json:"serviceArn"`
	ServiceName                   string                         `json:"serviceName"`
	ClusterArn                    string                         `json:"clusterArn"`
	Status                        string                         `json:"status"`
	DesiredCount                  int                            `json:"desiredCount"`
	RunningCount                  int                            `json:"runningCount"`
	PendingCount                  int                            `json:"pendingCount"`
	LaunchType                    string                         `json:"launchType"`
	TaskDefinition                string                         `json:"taskDefinition"`
	DeploymentConfiguration       *model.DeploymentConfiguration `json:"deploymentConfiguration,omitempty"`
	Deployments                   []deploymentOut                `json:"deployments"`
	Events                        []eventOut                     `json:"events"`
	CreatedAt                     *epoch                         `json:"createdAt,omitempty"`
	PlacementConstraints          []model.PlacementConstraint    `json:"placementConstraints"`
	PlacementStrategy             []model.PlacementStrategy      `json:"placementStrategy"`
	HealthCheckGracePeriodSeconds *int                           `json:"healthCheckGracePeriodSeconds,omitempty"`
	SchedulingStrategy            string                         `json:"schedulingStrategy"`
	DeploymentController          map[string]string              `json:"deploymentController"`
	Tags                          []tag                          `json:"tags,omitempty"`
}

type deploymentOut struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	TaskDefinition     string `json:"taskDefinition"`
	DesiredCount       int    `json:"desiredCount"`
	PendingCount       int    `json:"pendingCount"`
	RunningCount       int    `json:"runningCount"`
	FailedTasks        int    `json:"failedTasks"`
	CreatedAt          *epoch `json:"createdAt,omitempty"`
	UpdatedAt          *epoch `json:"updatedAt,omitempty"`
	LaunchType         string `json:"launchType"`
	RolloutState       string `json:"rolloutState,omitempty"`
	RolloutStateReason string `json:"rolloutStateReason,omitempty"`
}

type eventOut struct {
	ID        string `json:"id"`
	CreatedAt *epoch `json:"createdAt"`
	Message   string `json:"message"`
}

// serviceShape reports a service as DescribeServices does: the live
// deployments only (PRIMARY and ACTIVE; ECS drops finished ones, and `aws
// ecs wait services-stable` waits for exactly one), newest events first.
func serviceShape(s *model.Service) serviceOut {
	status := s.Status
	if status == "" {
		status = model.ServiceActive
	}
	o := serviceOut{
		ServiceArn: model.ServiceArnFor(s.ServiceName), ServiceName: s.ServiceName, ClusterArn: clusterArn(),
		Status: status, DesiredCount: s.Desired(), RunningCount: s.RunningCount, PendingCount: s.PendingCount,
		LaunchType: "EC2", DeploymentConfiguration: s.DeploymentConfiguration, Deployments: []deploymentOut{},
		Events: []eventOut{}, CreatedAt: atPtr(s.CreatedAt), PlacementConstraints: s.PlacementConstraints,
		PlacementStrategy: s.PlacementStrategy, HealthCheckGracePeriodSeconds: s.HealthCheckGracePeriodSeconds,
		SchedulingStrategy: "REPLICA", DeploymentController: map[string]string{"type": "ECS"}, Tags: s.Tags,
	}
	// ECS always reports the deployment configuration, defaults filled in.
	minPct, maxPct, cb := s.MinHealthyPercent(), s.MaxPercent(), s.CircuitBreaker()
	o.DeploymentConfiguration = &model.DeploymentConfiguration{MinimumHealthyPercent: &minPct, MaximumPercent: &maxPct, DeploymentCircuitBreaker: &cb}
	if o.PlacementConstraints == nil {
		o.PlacementConstraints = []model.PlacementConstraint{}
	}
	if o.PlacementStrategy == nil {
		o.PlacementStrategy = []model.PlacementStrategy{}
	}
	o.TaskDefinition = s.TaskDefinition
	// A forced deployment of the same revision retires the previous
	// deployment's record at once, but its tasks run until replaced: ECS
	// lists that deployment as ACTIVE meanwhile (and `wait services-stable`
	// waits for it to go).
	var replaced *model.Deployment
	if p := s.Primary(); p != nil && len(p.ReplaceTasks) > 0 {
		for i := len(s.Deployments) - 1; i >= 0; i-- {
			if d := &s.Deployments[i]; d.ID != p.ID && d.TaskDefinition == p.TaskDefinition {
				replaced = d
				break
			}
		}
	}
	for i := len(s.Deployments) - 1; i >= 0; i-- { // newest first, as ECS lists them
		d := s.Deployments[i]
		if d.Status == model.DeploymentInactive && &s.Deployments[i] != replaced {
			continue
		}
		if &s.Deployments[i] == replaced {
			d.Status, d.RunningCount, d.PendingCount = model.DeploymentActive, 0, 0
		}
		if d.Status == model.DeploymentPrimary {
			o.TaskDefinition = d.TaskDefinitionArn
		}
		o.Deployments = append(o.Deployments, deploymentOut{
			ID: d.ID, Status: d.Status, TaskDefinition: d.TaskDefinitionArn, DesiredCount: d.DesiredCount,
			PendingCount: d.PendingCount, RunningCount: d.RunningCount, FailedTasks: d.FailedTasks,
			CreatedAt: at(d.CreatedAt), UpdatedAt: at(d.UpdatedAt), LaunchType: "EC2",
			RolloutState: d.RolloutState, RolloutStateReason: d.RolloutStateReason,
		})
	}
	for i := len(s.Events) - 1; i >= 0; i-- {
		e := s.Events[i]
		o.Events = append(o.Events, eventOut{ID: e.ID, CreatedAt: at(e.CreatedAt), Message: e.Message})
	}
	return o
}

// --- container instances

type resourceOut struct {
	Name           string   `json:"name"`
	Type           string   `json:"type"`
	IntegerValue   int      `json:"integerValue"`
	StringSetValue []string `json:"stringSetValue,omitempty"`
}

type attributeOut struct {
	Name       string `json:"name"`
	Value      string `json:"value,omitempty"`
	TargetType string `json:"targetType,omitempty"`
	TargetID   string `json:"targetId,omitempty"`
}

type instanceOut struct {
	ContainerInstanceArn string            `json:"containerInstanceArn"`
	Ec2InstanceID        string            `json:"ec2InstanceId"`
	Status               string            `json:"status"`
	AgentConnected       bool              `json:"agentConnected"`
	RunningTasksCount    int               `json:"runningTasksCount"`
	PendingTasksCount    int               `json:"pendingTasksCount"`
	RegisteredResources  []resourceOut     `json:"registeredResources"`
	RemainingResources   []resourceOut     `json:"remainingResources"`
	Attributes           []attributeOut    `json:"attributes"`
	VersionInfo          map[string]string `json:"versionInfo"`
	RegisteredAt         *epoch            `json:"registeredAt,omitempty"`
	Tags                 []tag             `json:"tags,omitempty"`
}

func resources(r model.Resources, ports []string) []resourceOut {
	out := []resourceOut{
		{Name: "CPU", Type: "INTEGER", IntegerValue: r.CPU},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: r.MemoryMiB},
	}
	if ports != nil {
		var tcp, udp []string
		for _, p := range ports {
			if n, ok := strings.CutPrefix(p, "udp/"); ok {
				udp = append(udp, n)
			} else {
				tcp = append(tcp, strings.TrimPrefix(p, "tcp/"))
			}
		}
		out = append(out, resourceOut{Name: "PORTS", Type: "STRINGSET", StringSetValue: nonNil(tcp)},
			resourceOut{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: nonNil(udp)})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func instanceShape(v *model.NodeView) instanceOut {
	ports := v.ReservedPorts
	if ports == nil {
		ports = []string{}
	}
	o := instanceOut{
		ContainerInstanceArn: instanceArn(v.Name), Ec2InstanceID: v.Name, Status: v.Status,
		AgentConnected: v.Alive, RunningTasksCount: v.RunningTasks, PendingTasksCount: v.PendingTasks,
		RegisteredResources: resources(v.Capacity, ports), RemainingResources: resources(v.Capacity.Sub(v.Used), ports),
		Attributes: nodeAttributes(&v.Node, false), VersionInfo: map[string]string{"agentVersion": v.AgentVersion},
		RegisteredAt: at(v.RegisteredAt), Tags: v.Tags,
	}
	if o.Status == "" {
		o.Status = model.NodeActive
	}
	return o
}

// nodeAttributes lists a node's attributes by name; withTarget adds the
// targetType and targetId ListAttributes reports.
func nodeAttributes(n *model.Node, withTarget bool) []attributeOut {
	names := make([]string, 0, len(n.Attributes))
	for k := range n.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]attributeOut, 0, len(names))
	for _, k := range names {
		a := attributeOut{Name: k, Value: n.Attributes[k]}
		if withTarget {
			a.TargetType, a.TargetID = "container-instance", instanceArn(n.Name)
		}
		out = append(out, a)
	}
	return out
}
