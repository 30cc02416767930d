package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/pkg/model"
)

// ListScalableTargets lists scalable targets (of one service when service
// is not ""), with their activities.
func (c *Client) ListScalableTargets(ctx context.Context, service string) ([]*model.ScalableTarget, error) {
	return listAll[*model.ScalableTarget](ctx, c, "/v1/scalabletargets", url.Values{"service": {service}}, "scalableTargets")
}

// DeregisterScalableTarget deletes a service's target and its policies.
func (c *Client) DeregisterScalableTarget(ctx context.Context, service string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/scalabletargets/"+url.PathEscape(service), nil, nil)
}

// ListScalingPolicies lists scaling policies (of one service when service
// is not "").
func (c *Client) ListScalingPolicies(ctx context.Context, service string) ([]*model.ScalingPolicy, error) {
	return listAll[*model.ScalingPolicy](ctx, c, "/v1/scalingpolicies", url.Values{"service": {service}}, "scalingPolicies")
}

// DeleteScalingPolicy deletes one policy.
func (c *Client) DeleteScalingPolicy(ctx context.Context, service, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/scalingpolicies/"+url.PathEscape(service)+"/"+url.PathEscape(name), nil, nil)
}
