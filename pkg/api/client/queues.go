package client

import (
	"context"
	"net/url"

	"github.com/orch-project/orch/pkg/api/wire"
)

// ListQueues lists every queue with its counts (all pages), optionally
// only those whose name starts with prefix.
func (c *Client) ListQueues(ctx context.Context, prefix string) ([]*wire.QueueView, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	return listAll[*wire.QueueView](ctx, c, "/v1/queues", q, "queues")
}

// ListTopics lists every topic with its subscriptions (all pages).
func (c *Client) ListTopics(ctx context.Context) ([]wire.TopicView, error) {
	return listAll[wire.TopicView](ctx, c, "/v1/topics", nil, "topics")
}
