package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// get decodes key into v and returns its mod revision, or model.ErrNotFound.
func (s *Store) get(ctx context.Context, key string, v any) (int64, error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("store: read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, model.ErrNotFound
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// list decodes every value under prefix, in key order.
func list[T any](ctx context.Context, s *Store, prefix string) ([]*T, error) {
	out, _, err := listRev[T](ctx, s, prefix)
	return out, err
}

func listRev[T any](ctx context.Context, s *Store, prefix string) ([]*T, int64, error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("store: list %s: %w", prefix, err)
	}
	out := make([]*T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		v := new(T)
		if err := json.Unmarshal(kv.Value, v); err != nil {
			return nil, 0, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		setModRevision(v, kv.ModRevision)
		out = append(out, v)
	}
	return out, resp.Header.Revision, nil
}

// update is a read-modify-write conditional on the mod revision read,
// retried on conflict. fn returning a nil slice means "no change".
func (s *Store) update(ctx context.Context, key string, fn func([]byte) ([]byte, error)) error {
	for {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("store: read %s: %w", key, err)
		}
		if len(resp.Kvs) == 0 {
			return model.ErrNotFound
		}
		kv := resp.Kvs[0]
		nb, err := fn(kv.Value)
		if err != nil || nb == nil {
			return err
		}
		tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut(key, string(nb))).Commit()
		if err != nil {
			return fmt.Errorf("store: write %s: %w", key, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// setModRevision records the revision a model object was read at.
func setModRevision(v any, rev int64) {
	switch o := v.(type) {
	case *model.Task:
		o.ModRevision = rev
	case *model.Node:
		o.ModRevision = rev
	case *model.ScalableTarget:
		o.ModRevision = rev
	case *model.ScalingPolicy:
		o.ModRevision = rev
	case *model.StoredFunction:
		o.ModRevision = rev
	case *model.StoredMapping:
		o.ModRevision = rev
	case *model.AsyncInvocation:
		o.ModRevision = rev
	}
}
