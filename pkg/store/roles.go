package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
)

// Role keys:
//
//	roles/<name>   model.Role (its policy document inline)

// PutRole creates or replaces a role.
func (s *Store) PutRole(ctx context.Context, r *model.Role) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode role %s: %w", r.RoleName, err)
	}
	if _, err := s.cli.Put(ctx, s.key("roles", r.RoleName), string(b)); err != nil {
		return fmt.Errorf("store: role %s: %w", r.RoleName, err)
	}
	return nil
}

// GetRole returns a role, or model.ErrNotFound.
func (s *Store) GetRole(ctx context.Context, name string) (*model.Role, error) {
	var r model.Role
	if _, err := s.get(ctx, s.key("roles", name), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRoles returns every role in name order.
func (s *Store) ListRoles(ctx context.Context) ([]*model.Role, error) {
	return list[model.Role](ctx, s, s.key("roles")+"/")
}

// DeleteRole removes a role; tasks running as it lose every permission.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	resp, err := s.cli.Delete(ctx, s.key("roles", name))
	if err != nil {
		return fmt.Errorf("store: delete role %s: %w", name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("role %s: %w", name, model.ErrNotFound)
	}
	return nil
}
