package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Autoscaling keys (see doc.go):
//
//	scaling/targets/<service>          model.ScalableTarget: bounds, and the
//	                                   controller's last actions and activities
//	scaling/policies/<service>/<name>  model.ScalingPolicy

func (s *Store) targetKey(service string) string { return s.key("scaling", "targets", service) }
func (s *Store) targetPrefix() string            { return s.key("scaling", "targets") + "/" }
func (s *Store) policyKey(service, name string) string {
	return s.key("scaling", "policies", service, name)
}
func (s *Store) policyPrefix(service string) string {
	if service == "" {
		return s.key("scaling", "policies") + "/"
	}
	return s.key("scaling", "policies", service) + "/"
}

// ScalableTargetCache mirrors every scalable target.
func (s *Store) ScalableTargetCache() *Cache[model.ScalableTarget] {
	return newCache[model.ScalableTarget](s, s.targetPrefix())
}

// ScalingPolicyCache mirrors every scaling policy.
func (s *Store) ScalingPolicyCache() *Cache[model.ScalingPolicy] {
	return newCache[model.ScalingPolicy](s, s.policyPrefix(""))
}

// GetScalableTarget reads a service's target, or model.ErrNotFound.
func (s *Store) GetScalableTarget(ctx context.Context, service string) (*model.ScalableTarget, error) {
	var t model.ScalableTarget
	rev, err := s.get(ctx, s.targetKey(service), &t)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("scalable target for service %s: %w", service, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	t.ModRevision = rev
	return &t, nil
}

// ListScalableTargets returns every target in service name order.
func (s *Store) ListScalableTargets(ctx context.Context) ([]*model.ScalableTarget, error) {
	return list[model.ScalableTarget](ctx, s, s.targetPrefix())
}

// UpdateScalableTarget applies fn to the stored target (nil when there is
// none) and writes the one fn returns, conditional on the revision read
// (re-reading and retrying on conflict) and, with a guard, on this process
// leading. fn returning nil changes nothing.
func (s *Store) UpdateScalableTarget(ctx context.Context, service string, guard *Guard, fn func(old *model.ScalableTarget) (*model.ScalableTarget, error)) (*model.ScalableTarget, error) {
	k := s.targetKey(service)
	for {
		resp, err := s.cli.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("store: read %s: %w", k, err)
		}
		var old *model.ScalableTarget
		var rev int64
		if len(resp.Kvs) == 1 {
			old = new(model.ScalableTarget)
			if err := json.Unmarshal(resp.Kvs[0].Value, old); err != nil {
				return nil, fmt.Errorf("store: decode %s: %w", k, err)
			}
			rev = resp.Kvs[0].ModRevision
			old.ModRevision = rev
		}
		nt, err := fn(old)
		if err != nil || nt == nil {
			return old, err
		}
		b, err := json.Marshal(nt)
		if err != nil {
			return nil, err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", rev)}
		if guard != nil {
			cmps = append(cmps, *guard)
		}
		tr, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(k, string(b))).Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
		if err != nil {
			return nil, fmt.Errorf("store: write %s: %w", k, err)
		}
		if tr.Succeeded {
			nt.ModRevision = tr.Header.Revision
			return nt, nil
		}
		kvs := tr.Responses[0].GetResponseRange().Kvs
		if guard != nil && (len(kvs) == 1 && kvs[0].ModRevision == rev || len(kvs) == 0 && rev == 0) {
			return nil, ErrNotLeader
		}
	}
}

// DeleteScalableTarget removes a service's target and its policies in one
// transaction; model.ErrNotFound when there is no target.
func (s *Store) DeleteScalableTarget(ctx context.Context, service string) error {
	k := s.targetKey(service)
	tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), ">", 0)).
		Then(clientv3.OpDelete(k), clientv3.OpDelete(s.policyPrefix(service), clientv3.WithPrefix())).Commit()
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", k, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("scalable target for service %s: %w", service, model.ErrNotFound)
	}
	return nil
}

// PutScalingPolicy creates or replaces a policy, provided its service's
// target exists (model.ErrNotFound otherwise).
func (s *Store) PutScalingPolicy(ctx context.Context, p *model.ScalingPolicy) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	svc := p.Service()
	tk := s.targetKey(svc)
	tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(tk), ">", 0)).
		Then(clientv3.OpPut(s.policyKey(svc, p.PolicyName), string(b))).Commit()
	if err != nil {
		return fmt.Errorf("store: put scaling policy %s: %w", p.PolicyName, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("no scalable target for %s; register one first: %w", p.ResourceId, model.ErrNotFound)
	}
	p.ModRevision = tr.Header.Revision
	return nil
}

// GetScalingPolicy reads one policy, or model.ErrNotFound.
func (s *Store) GetScalingPolicy(ctx context.Context, service, name string) (*model.ScalingPolicy, error) {
	var p model.ScalingPolicy
	rev, err := s.get(ctx, s.policyKey(service, name), &p)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("scaling policy %s of service %s: %w", name, service, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	p.ModRevision = rev
	return &p, nil
}

// ListScalingPolicies returns a service's policies (every policy when
// service is "").
func (s *Store) ListScalingPolicies(ctx context.Context, service string) ([]*model.ScalingPolicy, error) {
	return list[model.ScalingPolicy](ctx, s, s.policyPrefix(service))
}

// DeleteScalingPolicy removes one policy; model.ErrNotFound when absent.
func (s *Store) DeleteScalingPolicy(ctx context.Context, service, name string) error {
	resp, err := s.cli.Delete(ctx, s.policyKey(service, name))
	if err != nil {
		return fmt.Errorf("store: delete scaling policy %s: %w", name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("scaling policy %s of service %s: %w", name, service, model.ErrNotFound)
	}
	return nil
}
