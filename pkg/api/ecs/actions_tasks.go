package ecs

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/orch-project/orch/pkg/model"
)

type runTaskIn struct {
	Cluster        string `json:"cluster"`
	TaskDefinition string `json:"taskDefinition"`
	Count          *int   `json:"count"`
	StartedBy      string `json:"startedBy"`
	Group          string `json:"group"`
	Overrides      *struct {
		ContainerOverrides []model.ContainerOverride `json:"containerOverrides"`
	} `json:"overrides"`
	PlacementConstraints []model.PlacementConstraint `json:"placementConstraints"`
	PlacementStrategy    []model.PlacementStrategy   `json:"placementStrategy"`
	ClientToken          string                      `json:"clientToken"`
	Tags                 []model.Tag                 `json:"tags"`
	// Accepted, not acted on: launchType, capacityProviderStrategy,
	// networkConfiguration, platformVersion, enableECSManagedTags,
	// propagateTags, referenceId, enableExecuteCommand, volumeConfigurations.
}

func runTask(ctx context.Context, b Backends, in *runTaskIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if in.TaskDefinition == "" {
		return nil, required("taskDefinition")
	}
	run := model.RunTaskInput{
		TaskDefinition: in.TaskDefinition, Group: in.Group, StartedBy: in.StartedBy,
		PlacementConstraints: in.PlacementConstraints, PlacementStrategy: in.PlacementStrategy,
		Tags: in.Tags, ClientToken: in.ClientToken,
	}
	if in.Count != nil {
		if *in.Count < 1 {
			return nil, invalidParam("count must be at least 1, got %d.", *in.Count)
		}
		run.Count = *in.Count
	}
	if in.Overrides != nil {
		run.Overrides = in.Overrides.ContainerOverrides
	}
	if err := model.ValidateTags("tags", in.Tags).Err(); err != nil {
		return nil, err
	}
	tasks, err := b.Tasks.Run(ctx, run)
	if errors.Is(err, model.ErrNotFound) {
		return nil, clientErr("TaskDefinition not found: %s is not registered.", in.TaskDefinition)
	}
	if err != nil {
		return nil, err
	}
	out := make([]taskOut, len(tasks))
	defs := taskDefCache{}
	for i, t := range tasks {
		out[i] = defs.shape(ctx, b, t)
	}
	return map[string]any{"tasks": out, "failures": []failure{}}, nil
}

type stopTaskIn struct {
	Cluster string `json:"cluster"`
	Task    string `json:"task"`
	Reason  string `json:"reason"`
}

func stopTask(ctx context.Context, b Backends, in *stopTaskIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if in.Task == "" {
		return nil, required("task")
	}
	if len(in.Reason) > 255 {
		return nil, invalidParam("reason must be at most 255 characters.")
	}
	t, err := b.Tasks.Stop(ctx, lastPart(in.Task), model.StopUserInitiated, in.Reason)
	if errors.Is(err, model.ErrNotFound) {
		return nil, invalidParam("The referenced task was not found: %s.", in.Task)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"task": taskDefCache{}.shape(ctx, b, t)}, nil
}

type describeTasksIn struct {
	Cluster string   `json:"cluster"`
	Tasks   []string `json:"tasks"`
	Include []string `json:"include"`
}

func describeTasks(ctx context.Context, b Backends, in *describeTasksIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, invalidParam("tasks must name 1 to 100 tasks (ids or ARNs), got %d.", len(in.Tasks))
	}
	out, failures := []taskOut{}, []failure{}
	defs := taskDefCache{}
	for _, ref := range in.Tasks {
		t, err := b.Tasks.Get(ctx, lastPart(ref))
		if errors.Is(err, model.ErrNotFound) || errors.Is(err, model.ErrInvalid) {
			failures = append(failures, failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		s := defs.shape(ctx, b, t)
		if !includes(in.Include, "TAGS") {
			s.Tags = nil
		}
		out = append(out, s)
	}
	return map[string]any{"tasks": out, "failures": failures}, nil
}

type listTasksIn struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	Family            string `json:"family"`
	StartedBy         string `json:"startedBy"`
	ServiceName       string `json:"serviceName"`
	DesiredStatus     string `json:"desiredStatus"`
	MaxResults        int    `json:"maxResults"`
	NextToken         string `json:"nextToken"`
}

func listTasks(ctx context.Context, b Backends, in *listTasksIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	f := model.TaskFilter{Family: in.Family, StartedBy: in.StartedBy, Node: lastPart(in.ContainerInstance), DesiredStatus: in.DesiredStatus}
	switch f.DesiredStatus {
	case "":
		f.DesiredStatus = model.StatusRunning // ECS lists running tasks unless told otherwise
	case model.StatusRunning, model.StatusPending, model.StatusStopped:
	default:
		return nil, invalidParam("desiredStatus must be RUNNING, PENDING or STOPPED, got %q.", in.DesiredStatus)
	}
	if in.ServiceName != "" {
		f.Group = model.ServiceGroup(lastPart(in.ServiceName))
	}
	var keys []string
	for _, t := range b.Tasks.List(f) {
		keys = append(keys, model.TaskArnFor(t.TaskID))
	}
	sort.Strings(keys)
	keys, next, err := page("ListTasks", keys, false, in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	return listOut("taskArns", keys, next), nil
}

// taskDefCache holds the task definitions one answer has read, by
// reference ("web:3").
type taskDefCache map[string]*model.TaskDefinition

// shape is taskShape with the containers filled from the task definition
// while the agent has reported none: ECS lists a task's containers (name,
// image, lastStatus PENDING) from RunTask on, and SDK code reads
// tasks[0].containers[0] at once. When the definition cannot be read (it
// was deleted), the list stays empty as before.
func (c taskDefCache) shape(ctx context.Context, b Backends, t *model.Task) taskOut {
	o := taskShape(t)
	if len(o.Containers) > 0 || t.Family == "" {
		return o
	}
	ref := fmt.Sprintf("%s:%d", t.Family, t.Revision)
	td, ok := c[ref]
	if !ok {
		td, _ = b.TaskDefinitions.Get(ctx, ref)
		c[ref] = td
	}
	if td == nil {
		return o
	}
	for _, cd := range td.ContainerDefinitions {
		o.Containers = append(o.Containers, containerOut{
			ContainerArn: containerArn(t.TaskID, cd.Name), TaskArn: o.TaskArn,
			Name: cd.Name, Image: cd.Image, LastStatus: t.LastStatus,
		})
	}
	return o
}
