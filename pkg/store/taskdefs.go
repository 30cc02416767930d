package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *Store) tdKey(family string, rev int) string {
	return s.key("taskdefs", family, fmt.Sprintf("%010d", rev))
}

// RegisterTaskDefinition stores td as the next revision of its family unless
// the latest revision has the same content, in which case that one is
// returned with created=false. Concurrent registrations of one family never
// get the same revision number.
func (s *Store) RegisterTaskDefinition(ctx context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error) {
	hash := td.ContentHash()
	for {
		latest, latestRev, err := s.latestTaskDefinition(ctx, td.Family)
		if err != nil {
			return nil, false, err
		}
		next := 1
		if latest != nil {
			if latest.Status == "ACTIVE" && latest.ContentHash() == hash {
				return latest, false, nil
			}
			next = latest.Revision + 1
		}
		c := *td
		now := time.Now().UTC().Truncate(time.Millisecond)
		c.Revision, c.Status, c.RegisteredAt = next, "ACTIVE", &now
		c.TaskDefinitionArn = c.Arn()
		b, err := json.Marshal(&c)
		if err != nil {
			return nil, false, err
		}
		key := s.tdKey(td.Family, next)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}
		if latest != nil {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.tdKey(td.Family, latest.Revision)), "=", latestRev))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(b))).Commit()
		if err != nil {
			return nil, false, fmt.Errorf("store: register task definition %s: %w", td.Family, err)
		}
		if resp.Succeeded {
			return &c, true, nil
		}
		// Someone registered a revision meanwhile: re-read and retry.
	}
}

func (s *Store) latestTaskDefinition(ctx context.Context, family string) (*model.TaskDefinition, int64, error) {
	resp, err := s.cli.Get(ctx, s.key("taskdefs", family)+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
	if err != nil {
		return nil, 0, fmt.Errorf("store: read task definition %s: %w", family, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	var td model.TaskDefinition
	if err := json.Unmarshal(resp.Kvs[0].Value, &td); err != nil {
		return nil, 0, fmt.Errorf("store: decode %s: %w", resp.Kvs[0].Key, err)
	}
	return &td, resp.Kvs[0].ModRevision, nil
}

// GetTaskDefinition returns family:rev, or the latest ACTIVE revision when
// rev is 0.
func (s *Store) GetTaskDefinition(ctx context.Context, family string, rev int) (*model.TaskDefinition, error) {
	if rev == 0 {
		tds, err := s.ListTaskDefinitions(ctx, family)
		if err != nil {
			return nil, err
		}
		for i := len(tds) - 1; i >= 0; i-- {
			if tds[i].Status == "ACTIVE" {
				return tds[i], nil
			}
		}
		return nil, fmt.Errorf("task definition %s has no ACTIVE revision: %w", family, model.ErrNotFound)
	}
	var td model.TaskDefinition
	if _, err := s.get(ctx, s.tdKey(family, rev), &td); err != nil {
		if err == model.ErrNotFound {
			return nil, fmt.Errorf("task definition %s:%d: %w", family, rev, model.ErrNotFound)
		}
		return nil, err
	}
	return &td, nil
}

// ListTaskDefinitions returns the revisions of family (all families when
// empty), oldest first.
func (s *Store) ListTaskDefinitions(ctx context.Context, family string) ([]*model.TaskDefinition, error) {
	prefix := s.key("taskdefs") + "/"
	if family != "" {
		prefix = s.key("taskdefs", family) + "/"
	}
	return list[model.TaskDefinition](ctx, s, prefix)
}

// DeregisterTaskDefinition marks a revision INACTIVE (ECS semantics: running
// tasks keep running, new ones cannot use it).
func (s *Store) DeregisterTaskDefinition(ctx context.Context, family string, rev int) (*model.TaskDefinition, error) {
	var out *model.TaskDefinition
	err := s.update(ctx, s.tdKey(family, rev), func(b []byte) ([]byte, error) {
		var td model.TaskDefinition
		if err := json.Unmarshal(b, &td); err != nil {
			return nil, err
		}
		if td.Status != "INACTIVE" {
			now := time.Now().UTC().Truncate(time.Millisecond)
			td.Status, td.DeregisteredAt = "INACTIVE", &now
		}
		out = &td
		return json.Marshal(&td)
	})
	if err == model.ErrNotFound {
		return nil, fmt.Errorf("task definition %s:%d: %w", family, rev, model.ErrNotFound)
	}
	return out, err
}

// UpdateTaskDefinitionTags replaces the tags of a revision with fn(its
// tags), conditional on what was read (the only part of a revision that
// may change besides its status).
func (s *Store) UpdateTaskDefinitionTags(ctx context.Context, family string, rev int, fn func([]model.Tag) ([]model.Tag, error)) (*model.TaskDefinition, error) {
	var out *model.TaskDefinition
	err := s.update(ctx, s.tdKey(family, rev), func(b []byte) ([]byte, error) {
		var td model.TaskDefinition
		if err := json.Unmarshal(b, &td); err != nil {
			return nil, err
		}
		tags, err := fn(td.Tags)
		if err != nil {
			return nil, err
		}
		td.Tags = tags
		out = &td
		return json.Marshal(&td)
	})
	if err == model.ErrNotFound {
		return nil, fmt.Errorf("task definition %s:%d: %w", family, rev, model.ErrNotFound)
	}
	return out, err
}

// DeleteTaskDefinition removes an INACTIVE revision (ECS
// DeleteTaskDefinitions); an ACTIVE one is a conflict.
func (s *Store) DeleteTaskDefinition(ctx context.Context, family string, rev int) (*model.TaskDefinition, error) {
	k := s.tdKey(family, rev)
	var td model.TaskDefinition
	modRev, err := s.get(ctx, k, &td)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("task definition %s:%d: %w", family, rev, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if td.Status != "INACTIVE" {
		return nil, fmt.Errorf("%w: task definition %s:%d is %s; deregister it before deleting it", model.ErrConflict, family, rev, td.Status)
	}
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).Then(clientv3.OpDelete(k)).Commit()
	if err != nil {
		return nil, fmt.Errorf("store: delete task definition %s:%d: %w", family, rev, err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("%w: task definition %s:%d changed while it was being deleted; try again", model.ErrConflict, family, rev)
	}
	return &td, nil
}
