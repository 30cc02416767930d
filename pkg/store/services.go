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

// Service keys (see doc.go):
//
//	services/<name>   model.Service: the spec users apply and the deployment
//	                  state the controller keeps (deployments, events), in one
//	                  key so a new leader continues a deployment.

func (s *Store) serviceKey(name string) string { return s.key("services", name) }
func (s *Store) deletedServiceKey(name string) string {
	return s.key("deletedservices", name)
}
func (s *Store) servicePrefix() string { return s.key("services") + "/" }

// ServiceCache mirrors every service record.
func (s *Store) ServiceCache() *Cache[model.Service] {
	return newCache[model.Service](s, s.servicePrefix())
}

// CreateService stores svc unless a service of that name exists; then it
// returns created=false and changes nothing.
func (s *Store) CreateService(ctx context.Context, svc *model.Service) (bool, error) {
	b, err := json.Marshal(svc)
	if err != nil {
		return false, err
	}
	k := s.serviceKey(svc.ServiceName)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(b))).Commit()
	if err != nil {
		return false, fmt.Errorf("store: create service %s: %w", svc.ServiceName, err)
	}
	if resp.Succeeded {
		svc.ModRevision = resp.Header.Revision
	}
	return resp.Succeeded, nil
}

// GetDeletedService reads the tombstone of a service deleted within the
// last ServiceTombstoneWindow (status INACTIVE), or model.ErrNotFound.
func (s *Store) GetDeletedService(ctx context.Context, name string) (*model.Service, error) {
	var svc model.Service
	if _, err := s.get(ctx, s.deletedServiceKey(name), &svc); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return nil, fmt.Errorf("deleted service %s: %w", name, model.ErrNotFound)
		}
		return nil, err
	}
	return &svc, nil
}

// CreateServiceOnce stores svc and the record of an idempotent
// CreateService (its clientToken, bound to a lease of window) in one
// transaction, when neither the record nor the service exists. It returns
// created=false when the service exists (the record is not written) and
// model.ErrConflict when the token's record exists (a concurrent call).
func (s *Store) CreateServiceOnce(ctx context.Context, token string, rec *ClientRequest, window time.Duration, svc *model.Service) (bool, error) {
	b, err := json.Marshal(svc)
	if err != nil {
		return false, err
	}
	lease, err := s.cli.Grant(ctx, int64(window.Seconds()))
	if err != nil {
		return false, Unknown(fmt.Errorf("store: grant the client token's lease: %w", err))
	}
	rb, _ := json.Marshal(rec)
	rk, sk := s.clientRequestKey("service", token), s.serviceKey(svc.ServiceName)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(rk), "=", 0), clientv3.Compare(clientv3.CreateRevision(sk), "=", 0)).
		Then(clientv3.OpPut(rk, string(rb), clientv3.WithLease(lease.ID)), clientv3.OpPut(sk, string(b))).
		Else(clientv3.OpGet(rk, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return false, Unknown(fmt.Errorf("store: create service %s: %w", svc.ServiceName, err))
	}
	if resp.Succeeded {
		svc.ModRevision = resp.Header.Revision
		return true, nil
	}
	_, _ = s.cli.Revoke(ctx, lease.ID) // unused
	if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
		return false, fmt.Errorf("store: client token in use by a concurrent request: %w", model.ErrConflict)
	}
	return false, nil
}

// GetService reads one service, or model.ErrNotFound.
func (s *Store) GetService(ctx context.Context, name string) (*model.Service, error) {
	var svc model.Service
	rev, err := s.get(ctx, s.serviceKey(name), &svc)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("service %s: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	svc.ModRevision = rev
	return &svc, nil
}

// ListServices returns every service in name order.
func (s *Store) ListServices(ctx context.Context) ([]*model.Service, error) {
	resp, err := s.cli.Get(ctx, s.servicePrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: list services: %w", err)
	}
	out := make([]*model.Service, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var svc model.Service
		if err := json.Unmarshal(kv.Value, &svc); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		svc.ModRevision = kv.ModRevision
		out = append(out, &svc)
	}
	return out, nil
}

// UpdateService applies fn to the stored service and writes it back
// conditional on the revision read (re-reading and retrying on conflict)
// and, when guard is non-nil, on this process still leading (ErrNotLeader
// otherwise). fn returns false to leave the service unchanged; the service
// returned is the stored one either way, with its ModRevision.
func (s *Store) UpdateService(ctx context.Context, name string, guard *Guard, fn func(*model.Service) (bool, error)) (*model.Service, error) {
	k := s.serviceKey(name)
	for {
		resp, err := s.cli.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("store: read service %s: %w", name, err)
		}
		if len(resp.Kvs) == 0 {
			return nil, fmt.Errorf("service %s: %w", name, model.ErrNotFound)
		}
		kv := resp.Kvs[0]
		var svc model.Service
		if err := json.Unmarshal(kv.Value, &svc); err != nil {
			return nil, fmt.Errorf("store: decode service %s: %w", name, err)
		}
		svc.ModRevision = kv.ModRevision
		changed, err := fn(&svc)
		if err != nil || !changed {
			return &svc, err
		}
		b, err := json.Marshal(&svc)
		if err != nil {
			return nil, err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision)}
		if guard != nil {
			cmps = append(cmps, *guard)
		}
		tr, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(k, string(b))).Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
		if err != nil {
			return nil, fmt.Errorf("store: write service %s: %w", name, err)
		}
		if tr.Succeeded {
			svc.ModRevision = tr.Header.Revision
			return &svc, nil
		}
		kvs := tr.Responses[0].GetResponseRange().Kvs
		if guard != nil && len(kvs) == 1 && kvs[0].ModRevision == kv.ModRevision {
			return nil, ErrNotLeader // the service did not change: the guard failed
		}
	}
}

// ServiceTombstoneWindow is how long a deleted service stays describable
// as INACTIVE (ECS keeps them about an hour; stopped tasks are kept as long).
const ServiceTombstoneWindow = time.Hour

// DeleteService removes a service record read at modRev, guarded like
// UpdateService. A record that changed since is left alone (ErrConflict).
// When tomb is non-nil it is stored, in the same transaction, as the
// service's tombstone (status INACTIVE) bound to a lease of
// ServiceTombstoneWindow, so it disappears by itself.
func (s *Store) DeleteService(ctx context.Context, name string, modRev int64, guard *Guard, tomb *model.Service) error {
	k := s.serviceKey(name)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", modRev)}
	if guard != nil {
		cmps = append(cmps, *guard)
	}
	ops := []clientv3.Op{clientv3.OpDelete(k)}
	if tomb != nil {
		t := *tomb
		t.Status, t.ModRevision = model.ServiceInactive, 0
		b, err := json.Marshal(&t)
		if err != nil {
			return err
		}
		lease, err := s.cli.Grant(ctx, int64(ServiceTombstoneWindow.Seconds()))
		if err != nil {
			return fmt.Errorf("store: grant the service tombstone's lease: %w", err)
		}
		ops = append(ops, clientv3.OpPut(s.deletedServiceKey(name), string(b), clientv3.WithLease(lease.ID)))
	}
	tr, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("store: delete service %s: %w", name, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("store: delete service %s: changed meanwhile or leadership lost: %w", name, model.ErrConflict)
	}
	return nil
}

// CreateTasksGuarded is CreateTasks for controllers: every batch also
// requires guard (this process still leads), so a deposed leader cannot
// start duplicates. It returns the revision of the last write.
func (s *Store) CreateTasksGuarded(ctx context.Context, tasks []*model.Task, guard *Guard) (int64, error) {
	var rev int64
	encs, err := encodeTasks(tasks)
	if err != nil {
		return rev, err
	}
	for _, r := range s.taskBatches(encs) {
		start, end := r[0], r[1]
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for i, t := range tasks[start:end] {
			b := encs[start+i]
			k := s.taskKey(t.TaskID)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
			ops = append(ops, clientv3.OpPut(k, string(b)))
		}
		if guard != nil {
			cmps = append(cmps, *guard)
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return rev, fmt.Errorf("store: create tasks: %w", err)
		}
		if !resp.Succeeded {
			return rev, ErrNotLeader // task ids are random: the guard failed
		}
		rev = resp.Header.Revision
		for _, t := range tasks[start:end] {
			t.ModRevision = rev
		}
	}
	return rev, nil
}
