package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Function keys (see doc.go):
//
//	functions/<name>                 model.StoredFunction
//	esm/<uuid>                       model.StoredMapping (event source mapping)
//	fnasync/<function>/<requestId>   model.AsyncInvocation, until it succeeded or was given up

func (s *Store) functionKey(name string) string { return s.key("functions", name) }
func (s *Store) functionPrefix() string         { return s.key("functions") + "/" }
func (s *Store) mappingKey(id string) string    { return s.key("esm", id) }
func (s *Store) mappingPrefix() string          { return s.key("esm") + "/" }
func (s *Store) asyncKey(fn, id string) string  { return s.key("fnasync", fn, id) }
func (s *Store) asyncPrefix() string            { return s.key("fnasync") + "/" }

// CreateFunction stores a new function; model.ErrConflict when one of
// that name exists.
func (s *Store) CreateFunction(ctx context.Context, f *model.StoredFunction) error {
	k := s.functionKey(f.FunctionName)
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(clientv3.OpPut(k, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("store: write %s: %w", k, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("function %s already exists: %w", f.FunctionName, model.ErrConflict)
	}
	f.ModRevision = tr.Header.Revision
	return nil
}

// GetFunction reads a function, or model.ErrNotFound.
func (s *Store) GetFunction(ctx context.Context, name string) (*model.StoredFunction, error) {
	var f model.StoredFunction
	rev, err := s.get(ctx, s.functionKey(name), &f)
	if err != nil {
		return nil, err
	}
	f.ModRevision = rev
	return &f, nil
}

// ListFunctions returns every function in name order.
func (s *Store) ListFunctions(ctx context.Context) ([]*model.StoredFunction, error) {
	return list[model.StoredFunction](ctx, s, s.functionPrefix())
}

// FunctionCache mirrors every function (the invoke path reads it, not etcd).
func (s *Store) FunctionCache() *Cache[model.StoredFunction] {
	return newCache[model.StoredFunction](s, s.functionPrefix())
}

// UpdateFunction applies fn to the stored function and writes the result,
// conditional on the revision read (re-read and retried on conflict).
// model.ErrNotFound when there is none; fn's error is returned as is.
func (s *Store) UpdateFunction(ctx context.Context, name string, fn func(*model.StoredFunction) error) (*model.StoredFunction, error) {
	var out *model.StoredFunction
	err := s.update(ctx, s.functionKey(name), func(b []byte) ([]byte, error) {
		var f model.StoredFunction
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, err
		}
		if err := fn(&f); err != nil {
			return nil, err
		}
		out = &f
		return json.Marshal(&f)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteFunction removes a function and its pending Event invocations;
// model.ErrNotFound when there is none.
func (s *Store) DeleteFunction(ctx context.Context, name string) error {
	k := s.functionKey(name)
	tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), ">", 0)).
		Then(clientv3.OpDelete(k), clientv3.OpDelete(s.key("fnasync", name)+"/", clientv3.WithPrefix())).Commit()
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", k, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("function %s: %w", name, model.ErrNotFound)
	}
	return nil
}

// PutMapping creates or replaces an event source mapping.
func (s *Store) PutMapping(ctx context.Context, m *model.StoredMapping) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	resp, err := s.cli.Put(ctx, s.mappingKey(m.UUID), string(b))
	if err != nil {
		return fmt.Errorf("store: write mapping %s: %w", m.UUID, err)
	}
	m.ModRevision = resp.Header.Revision
	return nil
}

// GetMapping reads a mapping, or model.ErrNotFound.
func (s *Store) GetMapping(ctx context.Context, id string) (*model.StoredMapping, error) {
	var m model.StoredMapping
	rev, err := s.get(ctx, s.mappingKey(id), &m)
	if err != nil {
		return nil, err
	}
	m.ModRevision = rev
	return &m, nil
}

// ListMappings returns every event source mapping.
func (s *Store) ListMappings(ctx context.Context) ([]*model.StoredMapping, error) {
	return list[model.StoredMapping](ctx, s, s.mappingPrefix())
}

// MappingCache mirrors every event source mapping (the pollers follow it).
func (s *Store) MappingCache() *Cache[model.StoredMapping] {
	return newCache[model.StoredMapping](s, s.mappingPrefix())
}

// DeleteMapping removes a mapping; model.ErrNotFound when there is none.
func (s *Store) DeleteMapping(ctx context.Context, id string) error {
	resp, err := s.cli.Delete(ctx, s.mappingKey(id))
	if err != nil {
		return fmt.Errorf("store: delete mapping %s: %w", id, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("event source mapping %s: %w", id, model.ErrNotFound)
	}
	return nil
}

// PutAsyncInvocation stores (or rewrites, after an attempt) an Event
// invocation. The write is durable when it returns: the caller may answer
// 202.
func (s *Store) PutAsyncInvocation(ctx context.Context, inv *model.AsyncInvocation) error {
	b, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	resp, err := s.cli.Put(ctx, s.asyncKey(inv.FunctionName, inv.RequestID), string(b))
	if err != nil {
		return fmt.Errorf("store: write async invocation %s: %w", inv.RequestID, err)
	}
	inv.ModRevision = resp.Header.Revision
	return nil
}

// DeleteAsyncInvocation removes an Event invocation that ended.
func (s *Store) DeleteAsyncInvocation(ctx context.Context, fn, id string) error {
	if _, err := s.cli.Delete(ctx, s.asyncKey(fn, id)); err != nil {
		return fmt.Errorf("store: delete async invocation %s: %w", id, err)
	}
	return nil
}

// ListAsyncInvocations returns every pending Event invocation.
func (s *Store) ListAsyncInvocations(ctx context.Context) ([]*model.AsyncInvocation, error) {
	out, err := list[model.AsyncInvocation](ctx, s, s.asyncPrefix())
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountAsyncInvocations counts a function's pending Event invocations.
func (s *Store) CountAsyncInvocations(ctx context.Context, fn string) (int64, error) {
	resp, err := s.cli.Get(ctx, s.key("fnasync", strings.TrimSuffix(fn, "/"))+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

// AsyncInvocationCache mirrors the pending Event invocations (the replica
// delivering them keeps its due-queue from it instead of listing them).
func (s *Store) AsyncInvocationCache() *Cache[model.AsyncInvocation] {
	return newCache[model.AsyncInvocation](s, s.asyncPrefix())
}
