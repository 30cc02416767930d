package ecs

import "context"

// action runs one ECS action on its JSON input and returns its output.
type action func(ctx context.Context, b Backends, body []byte) (any, error)

// act adapts a handler of a decoded input.
func act[In any](f func(ctx context.Context, b Backends, in *In) (any, error)) action {
	return func(ctx context.Context, b Backends, body []byte) (any, error) {
		in := new(In)
		if err := decodeJSON(body, in); err != nil {
			return nil, err
		}
		return f(ctx, b, in)
	}
}

// actions is every ECS action this endpoint serves: the one list ServeHTTP
// dispatches by and docs/ecs-api.md documents.
var actions = map[string]action{
	// task definitions (actions_taskdefs.go)
	"RegisterTaskDefinition":     registerTaskDefinition,
	"DeregisterTaskDefinition":   act(deregisterTaskDefinition),
	"DescribeTaskDefinition":     act(describeTaskDefinition),
	"ListTaskDefinitions":        act(listTaskDefinitions),
	"ListTaskDefinitionFamilies": act(listTaskDefinitionFamilies),
	"DeleteTaskDefinitions":      act(deleteTaskDefinitions),
	// tasks (actions_tasks.go)
	"RunTask":       act(runTask),
	"StopTask":      act(stopTask),
	"DescribeTasks": act(describeTasks),
	"ListTasks":     act(listTasks),
	// services (actions_services.go)
	"CreateService":    createService,
	"UpdateService":    act(updateService),
	"DeleteService":    act(deleteService),
	"DescribeServices": act(describeServices),
	"ListServices":     act(listServices),
	// the cluster and its container instances (actions_cluster.go)
	"ListClusters":                  act(listClusters),
	"DescribeClusters":              act(describeClusters),
	"ListContainerInstances":        act(listContainerInstances),
	"DescribeContainerInstances":    act(describeContainerInstances),
	"UpdateContainerInstancesState": act(updateContainerInstancesState),
	"PutAttributes":                 act(putAttributes),
	"DeleteAttributes":              act(deleteAttributes),
	"ListAttributes":                act(listAttributes),
	// tags on every resource (actions_tags.go)
	"TagResource":         act(tagResource),
	"UntagResource":       act(untagResource),
	"ListTagsForResource": act(listTagsForResource),
}
