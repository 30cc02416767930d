package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Admin access keys (the cluster's AWS keys, orch aws-key) live under
// auth/awskeys/AKIA...; tasks' temporary keys are ASIA..., so listing the
// admin keys never reads the tasks' churn. Every change to an admin key
// also writes auth/adminkeys-rev, and is conditional on that key's revision
// as read: two concurrent removals cannot both pass the "one active key
// stays" check (a compare over the prefix would miss a key deleted by the
// other).

func (s *Store) adminKeyPrefix() string { return s.key("auth", "awskeys") + "/AKIA" }

func (s *Store) adminKeyGuard() string { return s.key("auth", "adminkeys-rev") }

// AdminAWSKeyCache mirrors the admin keys' records (secrets stay sealed),
// so every replica sees a key deactivated or removed through any other.
// A change's Key is the access key id without its "AKIA".
func (s *Store) AdminAWSKeyCache() *Cache[AWSKey] { return newCache[AWSKey](s, s.adminKeyPrefix()) }

// adminKeys reads the admin keys (secrets sealed) and the guard's revision
// at one revision.
func (s *Store) adminKeys(ctx context.Context) ([]AWSKey, int64, error) {
	tr, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.adminKeyGuard()), clientv3.OpGet(s.adminKeyPrefix(), clientv3.WithPrefix())).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("store: admin access keys: %w", err)
	}
	var guard int64
	if g := tr.Responses[0].GetResponseRange().Kvs; len(g) == 1 {
		guard = g[0].ModRevision
	}
	var keys []AWSKey
	for _, kv := range tr.Responses[1].GetResponseRange().Kvs {
		var k AWSKey
		if json.Unmarshal(kv.Value, &k) != nil || k.Role != auth.RoleAdmin {
			continue
		}
		keys = append(keys, k)
	}
	return keys, guard, nil
}

func accessKeyMeta(k AWSKey) model.AccessKeyMeta {
	m := model.AccessKeyMeta{AccessKeyId: k.AccessKeyID, Status: k.Status, CreatedBy: k.CreatedBy}
	if m.Status == "" {
		m.Status = model.AccessKeyActive
	}
	if !k.CreatedAt.IsZero() {
		t := k.CreatedAt
		m.CreateDate = &t
	}
	return m
}

// ListAdminAWSKeys returns the admin access keys, oldest first, without
// their secrets.
func (s *Store) ListAdminAWSKeys(ctx context.Context) ([]model.AccessKeyMeta, error) {
	keys, _, err := s.adminKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]model.AccessKeyMeta, 0, len(keys))
	for _, k := range keys {
		out = append(out, accessKeyMeta(k))
	}
	// The first start's key has no date (made before keys had one): first.
	at := func(m model.AccessKeyMeta) time.Time {
		if m.CreateDate == nil {
			return time.Time{}
		}
		return *m.CreateDate
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := at(out[i]), at(out[j]); !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].AccessKeyId < out[j].AccessKeyId
	})
	return out, nil
}

// CreateAdminAWSKey stores a new admin key (Active, its secret sealed),
// unless MaxAdminAccessKeys exist already.
func (s *Store) CreateAdminAWSKey(ctx context.Context, k AWSKey) (model.AccessKeyMeta, error) {
	if !strings.HasPrefix(k.AccessKeyID, "AKIA") || k.Role != auth.RoleAdmin {
		return model.AccessKeyMeta{}, fmt.Errorf("store: %s is not an admin access key id (AKIA...): %w", k.AccessKeyID, model.ErrInvalid)
	}
	k.Status = model.AccessKeyActive
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	key := s.key("auth", "awskeys", k.AccessKeyID)
	for {
		keys, guard, err := s.adminKeys(ctx)
		if err != nil {
			return model.AccessKeyMeta{}, err
		}
		if len(keys) >= model.MaxAdminAccessKeys {
			ids := make([]string, len(keys))
			for i, o := range keys {
				ids[i] = o.AccessKeyID
			}
			return model.AccessKeyMeta{}, fmt.Errorf("%w: LimitExceeded: there are %d admin access keys already (%s), the most a cluster may have, as IAM allows a user: remove the old one first (orch aws-key deactivate ID, then orch aws-key rm ID)",
				model.ErrConflict, len(keys), strings.Join(ids, ", "))
		}
		tr, err := s.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(s.adminKeyGuard()), "=", guard),
			clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
		).Then(clientv3.OpPut(key, s.sealedAWSKey(k, key)), clientv3.OpPut(s.adminKeyGuard(), k.AccessKeyID)).Commit()
		if err != nil {
			return model.AccessKeyMeta{}, fmt.Errorf("store: create access key: %w", err)
		}
		if tr.Succeeded {
			return accessKeyMeta(k), nil
		}
	}
}

// SetAdminAWSKeyStatus makes an admin key Active or Inactive. It refuses
// to deactivate the last active one, which would leave the cluster with
// no admin AWS key.
func (s *Store) SetAdminAWSKeyStatus(ctx context.Context, id, status string) (model.AccessKeyMeta, error) {
	if status != model.AccessKeyActive && status != model.AccessKeyInactive {
		return model.AccessKeyMeta{}, &model.FieldError{Path: "Status", Message: fmt.Sprintf("must be %s or %s, got %q", model.AccessKeyActive, model.AccessKeyInactive, status)}
	}
	return s.changeAdminKey(ctx, id, "deactivate", status == model.AccessKeyInactive, func(k *AWSKey, key string) clientv3.Op {
		k.Status = status
		// The record's secret is still sealed as read: re-marshal as is.
		b, _ := json.Marshal(k)
		return clientv3.OpPut(key, string(b))
	})
}

// DeleteAdminAWSKey removes an admin key. It refuses to remove the last
// active one.
func (s *Store) DeleteAdminAWSKey(ctx context.Context, id string) (model.AccessKeyMeta, error) {
	return s.changeAdminKey(ctx, id, "remove", true, func(_ *AWSKey, key string) clientv3.Op { return clientv3.OpDelete(key) })
}

// changeAdminKey applies op to admin key id, conditional on no admin key
// having changed since it was read. When turnsOff, the key must not be
// the last active one.
func (s *Store) changeAdminKey(ctx context.Context, id, verb string, turnsOff bool, op func(k *AWSKey, key string) clientv3.Op) (model.AccessKeyMeta, error) {
	key := s.key("auth", "awskeys", id)
	for {
		keys, guard, err := s.adminKeys(ctx)
		if err != nil {
			return model.AccessKeyMeta{}, err
		}
		var found *AWSKey
		active := 0
		for i := range keys {
			if keys[i].Status != model.AccessKeyInactive {
				active++
			}
			if keys[i].AccessKeyID == id {
				found = &keys[i]
			}
		}
		if found == nil {
			return model.AccessKeyMeta{}, fmt.Errorf("admin access key %s: %w (orch aws-key ls lists them)", id, model.ErrNotFound)
		}
		if turnsOff && found.Status != model.AccessKeyInactive && active == 1 {
			return model.AccessKeyMeta{}, fmt.Errorf("%w: access key %s is the last active admin AWS key; to %s it, first create its replacement (orch aws-key create --write-config) and switch your clients to it", model.ErrConflict, id, verb)
		}
		tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(s.adminKeyGuard()), "=", guard)).
			Then(op(found, key), clientv3.OpPut(s.adminKeyGuard(), id)).Commit()
		if err != nil {
			return model.AccessKeyMeta{}, fmt.Errorf("store: %s access key %s: %w", verb, id, err)
		}
		if tr.Succeeded {
			return accessKeyMeta(*found), nil
		}
	}
}
