package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// Apply validates and applies manifest documents all together.
func (c *Client) Apply(ctx context.Context, docs []wire.ApplyDocument) ([]wire.ApplyResult, error) {
	var out wire.ApplyResponse
	err := c.Do(ctx, http.MethodPost, "/v1/apply", wire.ApplyRequest{Documents: docs}, &out)
	return out.Results, err
}

// ListTaskDefinitions lists revisions of a family (all when empty).
func (c *Client) ListTaskDefinitions(ctx context.Context, family string) ([]*model.TaskDefinition, error) {
	var out struct {
		TaskDefinitions []*model.TaskDefinition `json:"taskDefinitions"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/taskdefinitions?family="+url.QueryEscape(family), nil, &out)
	return out.TaskDefinitions, err
}

// GetTaskDefinition resolves FAMILY or FAMILY:REV.
func (c *Client) GetTaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	var out struct {
		TaskDefinition *model.TaskDefinition `json:"taskDefinition"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/taskdefinitions/"+url.PathEscape(ref), nil, &out)
	return out.TaskDefinition, err
}

// DeregisterTaskDefinition marks revisions INACTIVE.
func (c *Client) DeregisterTaskDefinition(ctx context.Context, ref string) ([]*model.TaskDefinition, error) {
	var out struct {
		TaskDefinitions []*model.TaskDefinition `json:"taskDefinitions"`
	}
	err := c.Do(ctx, http.MethodDelete, "/v1/taskdefinitions/"+url.PathEscape(ref), nil, &out)
	return out.TaskDefinitions, err
}

// RunTask starts tasks.
func (c *Client) RunTask(ctx context.Context, in wire.RunTaskInput) ([]*model.Task, error) {
	var out struct {
		Tasks []*model.Task `json:"tasks"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/tasks", in, &out)
	return out.Tasks, err
}

// ListTasks lists tasks; filter keys: family, group, node, desiredStatus, lastStatus, startedBy.
func (c *Client) ListTasks(ctx context.Context, filter url.Values) ([]*model.Task, error) {
	var out struct {
		Tasks []*model.Task `json:"tasks"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/tasks?"+filter.Encode(), nil, &out)
	return out.Tasks, err
}

// GetTask reads a task by id or unique prefix.
func (c *Client) GetTask(ctx context.Context, id string) (*model.Task, error) {
	var out struct {
		Task *model.Task `json:"task"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, &out)
	return out.Task, err
}

// StopTask asks a task to stop.
func (c *Client) StopTask(ctx context.Context, id, reason string) (*model.Task, error) {
	var out struct {
		Task *model.Task `json:"task"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/stop", wire.StopTaskInput{Reason: reason}, &out)
	return out.Task, err
}

// DeleteTask removes a stopped task's record.
func (c *Client) DeleteTask(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/tasks/"+url.PathEscape(id), nil, nil)
}

// Logs streams a task's container output; q holds container, follow, since, tail.
func (c *Client) Logs(ctx context.Context, id string, q url.Values) (io.ReadCloser, error) {
	return c.Stream(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id)+"/logs?"+q.Encode(), nil)
}

// ListNodes lists nodes with their load.
func (c *Client) ListNodes(ctx context.Context) ([]wire.NodeView, error) {
	var out struct {
		Nodes []wire.NodeView `json:"nodes"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/nodes", nil, &out)
	return out.Nodes, err
}

// GetNode reads a node and its tasks.
func (c *Client) GetNode(ctx context.Context, name string) (*wire.NodeView, []*model.Task, error) {
	var out struct {
		Node  *wire.NodeView `json:"node"`
		Tasks []*model.Task  `json:"tasks"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(name), nil, &out)
	return out.Node, out.Tasks, err
}

// SetNodeStatus drains or activates a node ("drain" or "activate").
func (c *Client) SetNodeStatus(ctx context.Context, name, verb string) (*model.Node, error) {
	var out struct {
		Node *model.Node `json:"node"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/"+verb, nil, &out)
	return out.Node, err
}

// DrainNode drains a node: service tasks move elsewhere, standalone tasks
// keep running unless force, which stops them (their ids are returned).
func (c *Client) DrainNode(ctx context.Context, name string, force bool) (*model.Node, []string, error) {
	var out struct {
		Node    *model.Node `json:"node"`
		Stopped []string    `json:"stoppedTasks"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/drain?force="+strconv.FormatBool(force), nil, &out)
	return out.Node, out.Stopped, err
}

// RemoveNode forgets a node; a node that is still alive needs force.
func (c *Client) RemoveNode(ctx context.Context, name string, force bool) error {
	return c.Do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(name)+"?force="+strconv.FormatBool(force), nil, nil)
}

// DeleteNode forgets a node.
func (c *Client) DeleteNode(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(name), nil, nil)
}

// NewJoinToken mints a join token for agents.
func (c *Client) NewJoinToken(ctx context.Context) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := c.Do(ctx, http.MethodPost, "/v1/join-tokens", nil, &out)
	return out.Token, err
}

// NewToken mints a token for a person with a role (admin or viewer).
func (c *Client) NewToken(ctx context.Context, role, name string) (wire.TokenResponse, error) {
	var out wire.TokenResponse
	err := c.Do(ctx, http.MethodPost, "/v1/tokens", wire.TokenRequest{Role: role, Name: name}, &out)
	return out, err
}
