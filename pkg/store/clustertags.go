package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// clusterTagsKey holds the tags of the cluster itself (ECS TagResource on
// the cluster ARN); the cluster has no other record.
func (s *Store) clusterTagsKey() string { return s.key("meta", "cluster-tags") }

// ClusterTags returns the cluster's tags (none when never set).
func (s *Store) ClusterTags(ctx context.Context) ([]model.Tag, error) {
	var tags []model.Tag
	if _, err := s.get(ctx, s.clusterTagsKey(), &tags); err != nil && !errors.Is(err, model.ErrNotFound) {
		return nil, err
	}
	return tags, nil
}

// UpdateClusterTags replaces the cluster's tags with fn(current tags),
// conditional on what was read (retried on conflict).
func (s *Store) UpdateClusterTags(ctx context.Context, fn func([]model.Tag) []model.Tag) ([]model.Tag, error) {
	k := s.clusterTagsKey()
	for {
		var tags []model.Tag
		rev, err := s.get(ctx, k, &tags)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return nil, err
		}
		tags = fn(tags)
		b, _ := json.Marshal(tags)
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).Then(clientv3.OpPut(k, string(b))).Commit()
		if err != nil {
			return nil, fmt.Errorf("store: write the cluster's tags: %w", err)
		}
		if resp.Succeeded {
			return tags, nil
		}
	}
}
