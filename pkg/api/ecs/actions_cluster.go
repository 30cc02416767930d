package ecs

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/placement"
)

type listIn struct {
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

func listClusters(ctx context.Context, b Backends, in *listIn) (any, error) {
	keys, next, err := page("ListClusters", []string{clusterArn()}, false, in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	return listOut("clusterArns", keys, next), nil
}

type describeClustersIn struct {
	Clusters []string `json:"clusters"`
	Include  []string `json:"include"`
}

type clusterOut struct {
	ClusterArn                        string `json:"clusterArn"`
	ClusterName                       string `json:"clusterName"`
	Status                            string `json:"status"`
	RegisteredContainerInstancesCount int    `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int    `json:"runningTasksCount"`
	PendingTasksCount                 int    `json:"pendingTasksCount"`
	ActiveServicesCount               int    `json:"activeServicesCount"`
	Tags                              []tag  `json:"tags,omitempty"`
}

func describeClusters(ctx context.Context, b Backends, in *describeClustersIn) (any, error) {
	names := in.Clusters
	if len(names) == 0 {
		names = []string{ClusterName}
	}
	out, failures := []clusterOut{}, []failure{}
	for _, n := range names {
		if checkCluster(n) != nil {
			failures = append(failures, failure{Arn: n, Reason: "MISSING"})
			continue
		}
		c := clusterOut{ClusterArn: clusterArn(), ClusterName: ClusterName, Status: "ACTIVE",
			RegisteredContainerInstancesCount: len(b.Nodes.List())}
		for _, t := range b.Tasks.List(model.TaskFilter{}) {
			switch {
			case t.IsStopped():
			case t.LastStatus == model.StatusRunning:
				c.RunningTasksCount++
			default:
				c.PendingTasksCount++
			}
		}
		svcs, err := b.Services.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			if s.Status != model.ServiceDraining {
				c.ActiveServicesCount++
			}
		}
		if includes(in.Include, "TAGS") {
			if c.Tags, err = b.Cluster.Tags(ctx); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return map[string]any{"clusters": out, "failures": failures}, nil
}

// queryNode is a node as the cluster query language sees it
// (ListContainerInstances' filter): its attributes, with ECS's names for
// the built-in ones, and the groups of the tasks on it.
type queryNode struct {
	b Backends
	n *model.Node
}

var ecsAttributeNames = map[string]string{"ecs.os-type": model.AttrOS, "ecs.cpu-architecture": model.AttrArch, "ecs.instance-id": model.AttrNodeName}

func (q queryNode) Attr(name string) (string, bool) {
	if alias, ok := ecsAttributeNames[name]; ok {
		name = alias
	}
	if name == model.AttrNodeName {
		return q.n.Name, true
	}
	v, ok := q.n.Attributes[name]
	if !ok && name == model.AttrHostname {
		return q.n.Name, true
	}
	return v, ok
}

func (q queryNode) AnyGroup(f func(string) bool) bool {
	for _, t := range q.b.Tasks.List(model.TaskFilter{Node: q.n.Name}) {
		if !t.IsStopped() && f(t.Group) {
			return true
		}
	}
	return false
}

// getInstance reads a node by container instance ARN or node name.
func getInstance(b Backends, ref string) (*model.NodeView, error) {
	v, err := b.Nodes.Get(lastPart(ref))
	if errors.Is(err, model.ErrNotFound) {
		return nil, invalidParam("Container instance %s was not found.", ref)
	}
	return v, err
}

type listContainerInstancesIn struct {
	Cluster    string `json:"cluster"`
	Filter     string `json:"filter"`
	Status     string `json:"status"`
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

func listContainerInstances(ctx context.Context, b Backends, in *listContainerInstancesIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	var filter placement.Expr
	if in.Filter != "" {
		var err error
		if filter, err = placement.ParseExpression(in.Filter); err != nil {
			return nil, invalidParam("filter: %v", err)
		}
	}
	switch in.Status {
	case "", model.NodeActive, model.NodeDraining:
	default:
		return nil, invalidParam("status must be ACTIVE or DRAINING, got %q.", in.Status)
	}
	var keys []string
	for _, v := range b.Nodes.List() {
		if (in.Status == "" || v.Status == in.Status) && (filter == nil || filter.Eval(queryNode{b, &v.Node})) {
			keys = append(keys, instanceArn(v.Name))
		}
	}
	sort.Strings(keys)
	keys, next, err := page("ListContainerInstances", keys, false, in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	return listOut("containerInstanceArns", keys, next), nil
}

type instancesIn struct {
	Cluster            string   `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Include            []string `json:"include"`
	Status             string   `json:"status"`
}

func describeContainerInstances(ctx context.Context, b Backends, in *instancesIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 100 {
		return nil, invalidParam("containerInstances must name 1 to 100 container instances, got %d.", len(in.ContainerInstances))
	}
	out, failures := []instanceOut{}, []failure{}
	for _, ref := range in.ContainerInstances {
		v, err := b.Nodes.Get(lastPart(ref))
		if errors.Is(err, model.ErrNotFound) {
			failures = append(failures, failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		s := instanceShape(v)
		if !includes(in.Include, "TAGS") {
			s.Tags = nil
		}
		out = append(out, s)
	}
	return map[string]any{"containerInstances": out, "failures": failures}, nil
}

// updateContainerInstancesState drains (DRAINING: no new tasks; service
// tasks are replaced elsewhere; standalone tasks keep running) or
// activates container instances.
func updateContainerInstancesState(ctx context.Context, b Backends, in *instancesIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if in.Status != model.NodeActive && in.Status != model.NodeDraining {
		return nil, invalidParam("status must be ACTIVE or DRAINING, got %q.", in.Status)
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, invalidParam("containerInstances must name 1 to 10 container instances, got %d.", len(in.ContainerInstances))
	}
	out, failures := []instanceOut{}, []failure{}
	for _, ref := range in.ContainerInstances {
		_, err := b.Nodes.SetStatus(ctx, lastPart(ref), in.Status)
		if errors.Is(err, model.ErrNotFound) {
			failures = append(failures, failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		v, err := b.Nodes.Get(lastPart(ref))
		if err != nil {
			return nil, err
		}
		out = append(out, instanceShape(v))
	}
	return map[string]any{"containerInstances": out, "failures": failures}, nil
}

type attributesIn struct {
	Cluster    string `json:"cluster"`
	Attributes []struct {
		Name       string  `json:"name"`
		Value      *string `json:"value"`
		TargetType string  `json:"targetType"`
		TargetID   string  `json:"targetId"`
	} `json:"attributes"`
}

// changeAttributes groups attributes by their target node and applies
// them; del removes instead of setting.
func changeAttributes(ctx context.Context, b Backends, in *attributesIn, del bool) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 || len(in.Attributes) > 10 {
		return nil, invalidParam("attributes must hold 1 to 10 attributes, got %d.", len(in.Attributes))
	}
	byNode := map[string]map[string]*string{}
	var order []string
	for i, a := range in.Attributes {
		if a.TargetID == "" {
			return nil, invalidParam("attributes[%d].targetId is required: the container instance ARN or node name.", i)
		}
		if a.TargetType != "" && a.TargetType != "container-instance" {
			return nil, invalidParam("attributes[%d].targetType must be container-instance, got %q.", i, a.TargetType)
		}
		if a.Name == "" {
			return nil, invalidParam("attributes[%d].name is required.", i)
		}
		if _, err := b.Nodes.Get(lastPart(a.TargetID)); errors.Is(err, model.ErrNotFound) {
			return nil, ecsErr(codeTargetNotFound, "Could not find %s: no container instance is named %s.", a.TargetID, lastPart(a.TargetID))
		}
		n := lastPart(a.TargetID)
		if byNode[n] == nil {
			byNode[n] = map[string]*string{}
			order = append(order, n)
		}
		v := a.Value
		if del {
			v = nil
		} else if v == nil {
			empty := ""
			v = &empty
		}
		byNode[n][a.Name] = v
	}
	for _, n := range order {
		if _, err := b.Nodes.PutAttributes(ctx, n, byNode[n]); err != nil {
			return nil, err
		}
	}
	out := make([]attributeOut, len(in.Attributes))
	for i, a := range in.Attributes {
		out[i] = attributeOut{Name: a.Name, TargetType: "container-instance", TargetID: instanceArn(lastPart(a.TargetID))}
		if a.Value != nil {
			out[i].Value = *a.Value
		}
	}
	return map[string]any{"attributes": out}, nil
}

func putAttributes(ctx context.Context, b Backends, in *attributesIn) (any, error) {
	return changeAttributes(ctx, b, in, false)
}

func deleteAttributes(ctx context.Context, b Backends, in *attributesIn) (any, error) {
	return changeAttributes(ctx, b, in, true)
}

type listAttributesIn struct {
	Cluster        string `json:"cluster"`
	TargetType     string `json:"targetType"`
	AttributeName  string `json:"attributeName"`
	AttributeValue string `json:"attributeValue"`
	MaxResults     int    `json:"maxResults"`
	NextToken      string `json:"nextToken"`
}

func listAttributes(ctx context.Context, b Backends, in *listAttributesIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if in.TargetType != "container-instance" {
		return nil, invalidParam("targetType is required and must be container-instance, got %q.", in.TargetType)
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, invalidParam("attributeValue needs attributeName.")
	}
	byKey := map[string]attributeOut{}
	var keys []string
	for _, v := range b.Nodes.List() {
		for _, a := range nodeAttributes(&v.Node, true) {
			if in.AttributeName != "" && a.Name != in.AttributeName || in.AttributeValue != "" && a.Value != in.AttributeValue {
				continue
			}
			k := strings.Join([]string{a.TargetID, a.Name}, "\x00")
			keys, byKey[k] = append(keys, k), a
		}
	}
	sort.Strings(keys)
	keys, next, err := page("ListAttributes", keys, false, in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	out := make([]attributeOut, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	res := map[string]any{"attributes": out}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}
