package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// ListAudit returns a page of the audit log, newest first (limit 0: the
// server's default); after continues from a NextToken.
func (c *Client) ListAudit(ctx context.Context, actor string, limit int, after string) (wire.AuditList, error) {
	q := url.Values{}
	if actor != "" {
		q.Set("actor", actor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("nextToken", after)
	}
	var out wire.AuditList
	err := c.Do(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &out)
	return out, err
}

// GetPolicy returns the cluster policy.
func (c *Client) GetPolicy(ctx context.Context) (model.ClusterPolicy, error) {
	var out struct {
		Policy model.ClusterPolicy `json:"policy"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/policy", nil, &out)
	return out.Policy, err
}

// SetPolicy replaces the cluster policy (admin only).
func (c *Client) SetPolicy(ctx context.Context, p model.ClusterPolicy) (model.ClusterPolicy, error) {
	var out struct {
		Policy model.ClusterPolicy `json:"policy"`
	}
	err := c.Do(ctx, http.MethodPut, "/v1/policy", p, &out)
	return out.Policy, err
}
