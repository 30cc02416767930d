package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
)

// ClusterPolicy returns the cluster policy, or the default one if an admin
// never set one.
func (s *Store) ClusterPolicy(ctx context.Context) (model.ClusterPolicy, error) {
	var p model.ClusterPolicy
	if _, err := s.get(ctx, s.key("meta", "policy"), &p); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return model.DefaultClusterPolicy(), nil
		}
		return p, err
	}
	return p, nil
}

// PutClusterPolicy replaces the cluster policy.
func (s *Store) PutClusterPolicy(ctx context.Context, p model.ClusterPolicy) error {
	b, _ := json.Marshal(p)
	if _, err := s.cli.Put(ctx, s.key("meta", "policy"), string(b)); err != nil {
		return fmt.Errorf("store: cluster policy: %w", err)
	}
	return nil
}
