package ecs

import (
	"context"
	"errors"
	"sort"

	"github.com/orch-project/orch/pkg/model"
)

// getService reads a service, ServiceNotFoundException when missing.
func getService(ctx context.Context, b Backends, ref string) (*model.Service, error) {
	if ref == "" {
		return nil, required("service")
	}
	svc, _, err := b.Services.Get(ctx, lastPart(ref))
	if errors.Is(err, model.ErrNotFound) {
		return nil, ecsErr(codeServiceNotFound, "Service not found: %s.", ref)
	}
	return svc, err
}

// activeService is getService for actions that change a service: a
// service being deleted is ServiceNotActiveException.
func activeService(ctx context.Context, b Backends, ref string) (*model.Service, error) {
	svc, err := getService(ctx, b, ref)
	if err == nil && svc.Status == model.ServiceDraining {
		return nil, ecsErr(codeServiceInactive, "Service %s is being deleted (DRAINING).", svc.ServiceName)
	}
	return svc, err
}

// describe re-reads a service with its counts, for an answer.
func describe(ctx context.Context, b Backends, name string) (any, error) {
	svc, _, err := b.Services.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"service": serviceShape(svc)}, nil
}

type clusterIn struct {
	Cluster string `json:"cluster"`
}

func createService(ctx context.Context, b Backends, body []byte) (any, error) {
	var c clusterIn
	if err := decodeJSON(body, &c); err != nil {
		return nil, err
	}
	if err := checkCluster(c.Cluster); err != nil {
		return nil, err
	}
	obj, err := decodeDocument(serviceDecoder, "CreateService", body)
	if err != nil {
		return nil, err
	}
	in := obj.(*model.Service)
	svc, err := b.Services.Create(ctx, in) // a conflict is InvalidParameterException
	if err != nil {
		return nil, err
	}
	return describe(ctx, b, svc.ServiceName)
}

type updateServiceIn struct {
	Cluster                       string                         `json:"cluster"`
	Service                       string                         `json:"service"`
	DesiredCount                  *int                           `json:"desiredCount"`
	TaskDefinition                string                         `json:"taskDefinition"`
	ForceNewDeployment            bool                           `json:"forceNewDeployment"`
	DeploymentConfiguration       *model.DeploymentConfiguration `json:"deploymentConfiguration"`
	PlacementConstraints          []model.PlacementConstraint    `json:"placementConstraints"`
	PlacementStrategy             []model.PlacementStrategy      `json:"placementStrategy"`
	HealthCheckGracePeriodSeconds *int                           `json:"healthCheckGracePeriodSeconds"`
}

func updateService(ctx context.Context, b Backends, in *updateServiceIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	cur, err := activeService(ctx, b, in.Service)
	if err != nil {
		return nil, err
	}
	spec := *cur
	// Without a new task definition the service stays on the revision it
	// runs, even if its family has a newer one since (as on ECS).
	if p := cur.Primary(); p != nil {
		spec.TaskDefinition = p.TaskDefinition
	}
	if in.TaskDefinition != "" {
		spec.TaskDefinition = in.TaskDefinition
	}
	if in.DesiredCount != nil {
		spec.DesiredCount = in.DesiredCount
	}
	if in.DeploymentConfiguration != nil {
		spec.DeploymentConfiguration = in.DeploymentConfiguration
	}
	if in.PlacementConstraints != nil {
		spec.PlacementConstraints = in.PlacementConstraints
	}
	if in.PlacementStrategy != nil {
		spec.PlacementStrategy = in.PlacementStrategy
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		spec.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	}
	before := ""
	if p := cur.Primary(); p != nil {
		before = p.ID
	}
	svc, _, err := b.Services.Apply(ctx, &spec)
	if err != nil {
		return nil, err
	}
	if p := svc.Primary(); in.ForceNewDeployment && (p == nil || p.ID == before) {
		if _, err := b.Services.ForceNewDeployment(ctx, svc.ServiceName); err != nil {
			return nil, err
		}
	}
	return describe(ctx, b, svc.ServiceName)
}

type deleteServiceIn struct {
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	Force   bool   `json:"force"`
}

func deleteService(ctx context.Context, b Backends, in *deleteServiceIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	cur, err := getService(ctx, b, in.Service)
	if err != nil {
		return nil, err
	}
	if cur.Status != model.ServiceDraining && cur.Desired() > 0 && !in.Force {
		return nil, invalidParam("The service cannot be stopped while it is scaled above 0: set desiredCount to 0 with UpdateService first, or pass force.")
	}
	if _, err := b.Services.Delete(ctx, cur.ServiceName); err != nil {
		return nil, err
	}
	return describe(ctx, b, cur.ServiceName)
}

type describeServicesIn struct {
	Cluster  string   `json:"cluster"`
	Services []string `json:"services"`
	Include  []string `json:"include"`
}

func describeServices(ctx context.Context, b Backends, in *describeServicesIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, invalidParam("services must name 1 to 10 services (names or ARNs), got %d.", len(in.Services))
	}
	out, failures := []serviceOut{}, []failure{}
	for _, ref := range in.Services {
		svc, _, err := b.Services.Get(ctx, lastPart(ref))
		if errors.Is(err, model.ErrNotFound) {
			// Deleted within the hour: INACTIVE, as ECS answers (so
			// `aws ecs wait services-inactive` succeeds).
			svc, err = b.Services.Deleted(ctx, lastPart(ref))
		}
		if errors.Is(err, model.ErrNotFound) {
			failures = append(failures, failure{Arn: model.ServiceArnFor(lastPart(ref)), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		s := serviceShape(svc)
		if !includes(in.Include, "TAGS") {
			s.Tags = nil
		}
		out = append(out, s)
	}
	return map[string]any{"services": out, "failures": failures}, nil
}

type listServicesIn struct {
	Cluster    string `json:"cluster"`
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

func listServices(ctx context.Context, b Backends, in *listServicesIn) (any, error) {
	if err := checkCluster(in.Cluster); err != nil {
		return nil, err
	}
	svcs, err := b.Services.List(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, s := range svcs {
		keys = append(keys, model.ServiceArnFor(s.ServiceName))
	}
	sort.Strings(keys)
	keys, next, err := page("ListServices", keys, false, in.NextToken, in.MaxResults, 10, 100)
	if err != nil {
		return nil, err
	}
	return listOut("serviceArns", keys, next), nil
}
