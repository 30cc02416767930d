package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// ApplyService creates or updates a service (ECS CreateService input) and
// returns it with the action taken: created, configured or unchanged.
func (c *Client) ApplyService(ctx context.Context, svc *model.Service) (*model.Service, string, error) {
	var out wire.ServiceResponse
	err := c.Do(ctx, http.MethodPost, "/v1/services", svc, &out)
	return out.Service, out.Action, err
}

// ListServices lists services with their running, pending and healthy counts.
func (c *Client) ListServices(ctx context.Context) ([]*model.Service, error) {
	return listAll[*model.Service](ctx, c, "/v1/services", nil, "services")
}

// GetService reads a service (deployments, events, counts) and its tasks.
func (c *Client) GetService(ctx context.Context, name string) (*model.Service, []*model.Task, error) {
	var out wire.ServiceResponse
	err := c.Do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name), nil, &out)
	return out.Service, out.Tasks, err
}

// ScaleService sets a service's desired count.
func (c *Client) ScaleService(ctx context.Context, name string, n int) (*model.Service, error) {
	var out wire.ServiceResponse
	err := c.Do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/scale", wire.ScaleServiceInput{DesiredCount: &n}, &out)
	return out.Service, err
}

// RollbackService returns a service to its last completed deployment.
func (c *Client) RollbackService(ctx context.Context, name string) (*model.Service, error) {
	var out wire.ServiceResponse
	err := c.Do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/rollback", nil, &out)
	return out.Service, err
}

// DeleteService scales a service to 0; the controller deletes it once its
// tasks have stopped (status DRAINING meanwhile).
func (c *Client) DeleteService(ctx context.Context, name string) (*model.Service, error) {
	var out wire.ServiceResponse
	err := c.Do(ctx, http.MethodDelete, "/v1/services/"+url.PathEscape(name), nil, &out)
	return out.Service, err
}
