package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

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
	return listAll[*model.TaskDefinition](ctx, c, "/v1/taskdefinitions", url.Values{"family": {family}}, "taskDefinitions")
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

// RunTask starts tasks. With a ClientToken (NewClientToken) a call whose
// outcome is unknown (a timeout in etcd, a lost connection) is retried
// with the same token, which the server answers with the tasks the first
// attempt created, if it did.
func (c *Client) RunTask(ctx context.Context, in wire.RunTaskInput) ([]*model.Task, error) {
	var out struct {
		Tasks []*model.Task `json:"tasks"`
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = c.Do(ctx, http.MethodPost, "/v1/tasks", in, &out)
		if err == nil || in.ClientToken == "" || attempt == 3 || !outcomeUnknown(err) || ctx.Err() != nil {
			return out.Tasks, err
		}
		if serr := sleepCtx(ctx, time.Duration(attempt)*time.Second); serr != nil {
			return nil, err
		}
	}
}

// NewClientToken returns a fresh token for an idempotent request.
func NewClientToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// outcomeUnknown reports whether a write may or may not have happened:
// the server said so, or the connection failed after the request left.
func outcomeUnknown(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == "OutcomeUnknown" || e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout
	}
	return true // not an answer: the connection broke
}

// ListTasks lists tasks; filter keys: family, group, node, desiredStatus, lastStatus, startedBy.
func (c *Client) ListTasks(ctx context.Context, filter url.Values) ([]*model.Task, error) {
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	return listAll[*model.Task](ctx, c, "/v1/tasks", q, "tasks")
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

// ForceDeleteTask removes a task's record whatever its state or size.
func (c *Client) ForceDeleteTask(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/tasks/"+url.PathEscape(id)+"?force=true", nil, nil)
}

// Logs streams a task's container output; q holds container, follow, since, tail.
func (c *Client) Logs(ctx context.Context, id string, q url.Values) (io.ReadCloser, error) {
	return c.Stream(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id)+"/logs?"+q.Encode(), nil)
}

// ListNodes lists nodes with their load.
func (c *Client) ListNodes(ctx context.Context) ([]wire.NodeView, error) {
	return listAll[wire.NodeView](ctx, c, "/v1/nodes", nil, "nodes")
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

// NewToken mints a token for a person with a role (admin, deployer or
// viewer) that never expires.
func (c *Client) NewToken(ctx context.Context, role, name string) (wire.TokenResponse, error) {
	return c.CreateToken(ctx, wire.TokenRequest{Role: role, Name: name})
}

// CreateToken mints a token (role, name, ttl).
func (c *Client) CreateToken(ctx context.Context, in wire.TokenRequest) (wire.TokenResponse, error) {
	var out wire.TokenResponse
	err := c.Do(ctx, http.MethodPost, "/v1/tokens", in, &out)
	return out, err
}

// ListTokens lists tokens (ids, names, roles, expiry; never secrets).
func (c *Client) ListTokens(ctx context.Context) ([]model.TokenMeta, error) {
	var out wire.TokenList
	err := c.Do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out.Tokens, err
}

// RevokeToken deletes a token by id (or unique id prefix) or name.
func (c *Client) RevokeToken(ctx context.Context, ref string) (model.TokenMeta, error) {
	var out struct {
		Revoked model.TokenMeta `json:"revoked"`
	}
	err := c.Do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(ref), nil, &out)
	return out.Revoked, err
}

// CreateAWSKey mints an admin AWS access key; the answer is the one time
// its secret is shown.
func (c *Client) CreateAWSKey(ctx context.Context) (wire.AccessKey, error) {
	var out wire.AccessKey
	err := c.Do(ctx, http.MethodPost, "/v1/aws-keys", struct{}{}, &out)
	return out, err
}

// ListAWSKeys lists the admin AWS access keys (never their secrets).
func (c *Client) ListAWSKeys(ctx context.Context) ([]model.AccessKeyMeta, error) {
	var out wire.AccessKeyList
	err := c.Do(ctx, http.MethodGet, "/v1/aws-keys", nil, &out)
	return out.AccessKeyMetadata, err
}

// SetAWSKeyStatus makes an admin AWS access key Active or Inactive.
func (c *Client) SetAWSKeyStatus(ctx context.Context, id, status string) (model.AccessKeyMeta, error) {
	var out model.AccessKeyMeta
	err := c.Do(ctx, http.MethodPut, "/v1/aws-keys/"+url.PathEscape(id), wire.AccessKeyUpdate{Status: status}, &out)
	return out, err
}

// DeleteAWSKey removes an admin AWS access key.
func (c *Client) DeleteAWSKey(ctx context.Context, id string) (model.AccessKeyMeta, error) {
	var out struct {
		Deleted model.AccessKeyMeta `json:"deleted"`
	}
	err := c.Do(ctx, http.MethodDelete, "/v1/aws-keys/"+url.PathEscape(id), nil, &out)
	return out.Deleted, err
}

// SecretsStatus reports the servers' secrets key rings (ids only) and how
// many sealed values each key sealed.
func (c *Client) SecretsStatus(ctx context.Context) (wire.SecretsStatus, error) {
	var out wire.SecretsStatus
	err := c.Do(ctx, http.MethodGet, "/v1/secrets", nil, &out)
	return out, err
}

// RotateSecrets re-seals every secret in etcd with the newest key.
func (c *Client) RotateSecrets(ctx context.Context) (wire.SecretsRotation, error) {
	var out wire.SecretsRotation
	err := c.Do(ctx, http.MethodPost, "/v1/secrets/rotate", struct{}{}, &out)
	return out, err
}
