package server

import (
	"context"
	"log/slog"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// awsKeysFeature serves /v1/aws-keys (orch aws-key) and, on every
// replica, watches the admin keys: a key deactivated or removed through
// any replica is dropped from this one's caches (the verifier's secrets
// and signing keys, the authorizer's records) as soon as the change
// arrives, rather than working on for the cache's 30 s.
type awsKeysFeature struct {
	api.Feature
	keys  *awsKeys
	cache *store.Cache[store.AWSKey]
	log   *slog.Logger
}

func newAWSKeysFeature(st *store.Store, keys *awsKeys, log *slog.Logger) awsKeysFeature {
	return awsKeysFeature{Feature: api.AWSKeysFeature(awsKeyAdmin{st, keys}), keys: keys, cache: st.AdminAWSKeyCache(), log: log}
}

func (f awsKeysFeature) Run(ctx context.Context) error {
	sub := f.cache.Subscribe()
	defer sub.Close()
	go func() { _ = f.cache.Run(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.C():
			for _, ch := range sub.Drain() {
				// Any change: a created key is simply looked up on first
				// use; the others must not outlive their record.
				f.keys.forget("AKIA" + ch.Key)
			}
		}
	}
}

// awsKeyAdmin implements api.AWSKeyAdmin on the store; this replica
// forgets a changed key at once (the others through their watch).
type awsKeyAdmin struct {
	st   *store.Store
	keys *awsKeys
}

func (a awsKeyAdmin) CreateAWSKey(ctx context.Context, createdBy string) (wire.AccessKey, error) {
	k := store.AWSKey{AccessKeyID: "AKIA" + randomUpper(16), SecretAccessKey: randomBase62(40), Role: auth.RoleAdmin, CreatedBy: createdBy}
	m, err := a.st.CreateAdminAWSKey(ctx, k)
	if err != nil {
		return wire.AccessKey{}, err
	}
	return wire.AccessKey{AccessKeyId: m.AccessKeyId, SecretAccessKey: k.SecretAccessKey, Status: m.Status, CreateDate: m.CreateDate}, nil
}

func (a awsKeyAdmin) ListAWSKeys(ctx context.Context) ([]model.AccessKeyMeta, error) {
	return a.st.ListAdminAWSKeys(ctx)
}

func (a awsKeyAdmin) SetAWSKeyStatus(ctx context.Context, id, status string) (model.AccessKeyMeta, error) {
	m, err := a.st.SetAdminAWSKeyStatus(ctx, id, status)
	if err == nil {
		a.keys.forget(id)
	}
	return m, err
}

func (a awsKeyAdmin) DeleteAWSKey(ctx context.Context, id string) (model.AccessKeyMeta, error) {
	m, err := a.st.DeleteAdminAWSKey(ctx, id)
	if err == nil {
		a.keys.forget(id)
	}
	return m, err
}
