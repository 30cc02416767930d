package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// tokenRecord is what a token's key holds; roles and what each may do are
// defined in pkg/auth.
type tokenRecord struct {
	Role auth.Role `json:"role"`
	Name string    `json:"name,omitempty"`
	// CreatedAt, ExpiresAt and CreatedBy are set for tokens minted with
	// CreateToken (older records have none: they never expire).
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	CreatedBy string     `json:"createdBy,omitempty"`
}

// TokenID is how a token is named without revealing it: the first 16 hex
// digits of its hash (its key in etcd ends with the full hash).
func TokenID(hash string) string {
	if len(hash) > 16 {
		return hash[:16]
	}
	return hash
}

// HashToken is how tokens are stored: only their SHA-256.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// PutToken stores a token (hashed) with a role.
func (s *Store) PutToken(ctx context.Context, tok string, role auth.Role, name string) error {
	now := time.Now().UTC()
	b, _ := json.Marshal(tokenRecord{Role: role, Name: name, CreatedAt: &now})
	_, err := s.cli.Put(ctx, s.key("auth", "tokens", HashToken(tok)), string(b))
	return err
}

// TokenInfo returns a token's role and name (the node of a node token), or
// model.ErrNotFound.
func (s *Store) TokenInfo(ctx context.Context, tok string) (auth.Identity, error) {
	var r tokenRecord
	h := HashToken(tok)
	if _, err := s.get(ctx, s.key("auth", "tokens", h), &r); err != nil {
		return auth.Identity{}, err
	}
	id := auth.Identity{Role: r.Role, Name: r.Name, ID: TokenID(h)}
	if r.ExpiresAt != nil {
		id.ExpiresAt = *r.ExpiresAt
	}
	return id, nil
}

// CreateToken stores a person's (or a join) token, hashed, with an expiry
// (nil: never) and who minted it. It returns the token's id.
func (s *Store) CreateToken(ctx context.Context, tok string, role auth.Role, name, createdBy string, expiresAt *time.Time) (string, error) {
	now := time.Now().UTC()
	b, _ := json.Marshal(tokenRecord{Role: role, Name: name, CreatedAt: &now, ExpiresAt: expiresAt, CreatedBy: createdBy})
	h := HashToken(tok)
	if _, err := s.cli.Put(ctx, s.key("auth", "tokens", h), string(b)); err != nil {
		return "", fmt.Errorf("store: create token: %w", err)
	}
	return TokenID(h), nil
}

// ListTokens returns the tokens people and agents hold (admin, deployer,
// viewer and join tokens), sorted by creation then id; node tokens are
// internal to each node's registration and not listed.
func (s *Store) ListTokens(ctx context.Context) ([]model.TokenMeta, error) {
	prefix := s.key("auth", "tokens") + "/"
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	out := []model.TokenMeta{}
	for _, kv := range resp.Kvs {
		var r tokenRecord
		if json.Unmarshal(kv.Value, &r) != nil || r.Role == auth.RoleNode {
			continue
		}
		out = append(out, model.TokenMeta{ID: TokenID(strings.TrimPrefix(string(kv.Key), prefix)), Name: r.Name, Role: string(r.Role),
			CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, CreatedBy: r.CreatedBy})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].CreatedAt, out[j].CreatedAt
		if a != nil && b != nil && !a.Equal(*b) {
			return a.Before(*b)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RevokeToken deletes the token whose id (or a unique prefix of at least 6
// digits of it) or name is ref. It refuses to revoke the last admin token,
// which would lock everyone out of the cluster.
func (s *Store) RevokeToken(ctx context.Context, ref string) (model.TokenMeta, error) {
	prefix := s.key("auth", "tokens") + "/"
	for {
		resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return model.TokenMeta{}, fmt.Errorf("store: revoke token: %w", err)
		}
		var match []model.TokenMeta
		var keys []string
		admins := 0
		for _, kv := range resp.Kvs {
			var r tokenRecord
			if json.Unmarshal(kv.Value, &r) != nil || r.Role == auth.RoleNode {
				continue
			}
			if r.Role == auth.RoleAdmin {
				admins++
			}
			h := strings.TrimPrefix(string(kv.Key), prefix)
			if r.Name == ref || (len(ref) >= 6 && strings.HasPrefix(h, ref)) {
				match = append(match, model.TokenMeta{ID: TokenID(h), Name: r.Name, Role: string(r.Role), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, CreatedBy: r.CreatedBy})
				keys = append(keys, string(kv.Key))
			}
		}
		switch {
		case len(match) == 0:
			return model.TokenMeta{}, fmt.Errorf("token %s: %w (orch token ls lists ids and names)", ref, model.ErrNotFound)
		case len(match) > 1:
			ids := make([]string, len(match))
			for i, m := range match {
				ids[i] = m.ID
			}
			return model.TokenMeta{}, fmt.Errorf("%w: %d tokens match %q (ids %s): revoke one by its id", model.ErrConflict, len(match), ref, strings.Join(ids, ", "))
		case match[0].Role == string(auth.RoleAdmin) && admins == 1:
			return model.TokenMeta{}, fmt.Errorf("%w: token %s is the last admin token: create another (orch token create --role admin) before revoking it", model.ErrConflict, match[0].ID)
		}
		// Conditional on the token list not having changed since it was
		// read, and on no other revocation having committed since (every
		// revocation writes guard): a deleted key leaves nothing for the
		// prefix comparison to see, so without the guard two concurrent
		// revocations could remove the last two admin tokens.
		guard := s.key("auth", "tokens-rev")
		tr, err := s.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(prefix), "<", resp.Header.Revision+1).WithPrefix(),
			clientv3.Compare(clientv3.ModRevision(guard), "<", resp.Header.Revision+1),
		).Then(clientv3.OpDelete(keys[0]), clientv3.OpPut(guard, "")).Commit()
		if err != nil {
			return model.TokenMeta{}, fmt.Errorf("store: revoke token: %w", err)
		}
		if tr.Succeeded {
			return match[0], nil
		}
	}
}

// SetNodeToken makes tok the one node token of node name; the previous one
// stops working.
func (s *Store) SetNodeToken(ctx context.Context, name, tok string) error {
	ptr := s.key("auth", "nodetokens", name)
	b, _ := json.Marshal(tokenRecord{Role: auth.RoleNode, Name: name})
	for {
		resp, err := s.cli.Get(ctx, ptr)
		if err != nil {
			return fmt.Errorf("store: node token of %s: %w", name, err)
		}
		ops := []clientv3.Op{
			clientv3.OpPut(s.key("auth", "tokens", HashToken(tok)), string(b)),
			clientv3.OpPut(ptr, HashToken(tok)),
		}
		var rev int64
		if len(resp.Kvs) == 1 {
			rev = resp.Kvs[0].ModRevision
			ops = append(ops, clientv3.OpDelete(s.key("auth", "tokens", string(resp.Kvs[0].Value))))
		}
		tr, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(ptr), "=", rev)).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("store: node token of %s: %w", name, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// deleteNodeTokenOps revoke a node's token (when the node is deleted).
func (s *Store) deleteNodeTokenOps(ctx context.Context, name string) []clientv3.Op {
	ptr := s.key("auth", "nodetokens", name)
	resp, err := s.cli.Get(ctx, ptr)
	if err != nil || len(resp.Kvs) == 0 {
		return nil
	}
	return []clientv3.Op{clientv3.OpDelete(ptr), clientv3.OpDelete(s.key("auth", "tokens", string(resp.Kvs[0].Value)))}
}

// AWSKey is an access key for SigV4-signed requests. The secret is kept
// because verifying a SigV4 signature needs it.
type AWSKey struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	Role            auth.Role `json:"role"`
	// A task's temporary credentials (Role task) also carry the task, the
	// role whose policy applies, a session token and an expiry.
	TaskID       string    `json:"taskId,omitempty"`
	RoleArn      string    `json:"roleArn,omitempty"`
	SessionToken string    `json:"sessionToken,omitempty"`
	Expiration   time.Time `json:"expiration,omitzero"`
	// An admin key's state ("" is Active: the first start's key predates
	// the field), when and by whom it was made (see awskeys.go).
	Status    string    `json:"status,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

// PutTemporaryAWSKey stores a task's temporary key under an etcd lease
// that ends a little after the key expires, so expired keys leave the
// store without a sweeper.
func (s *Store) PutTemporaryAWSKey(ctx context.Context, k AWSKey) error {
	ttl := int64(time.Until(k.Expiration)/time.Second) + 600
	lease, err := s.cli.Grant(ctx, ttl)
	if err != nil {
		return fmt.Errorf("store: lease for access key: %w", err)
	}
	key := s.key("auth", "awskeys", k.AccessKeyID)
	if _, err := s.cli.Put(ctx, key, s.sealedAWSKey(k, key), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("store: access key: %w", err)
	}
	return nil
}

// DeleteAWSKey removes an access key (a retired one); absent is fine.
func (s *Store) DeleteAWSKey(ctx context.Context, id string) error {
	_, err := s.cli.Delete(ctx, s.key("auth", "awskeys", id))
	return err
}

// PutAWSKey stores an access key, its secret sealed (see Secrets).
func (s *Store) PutAWSKey(ctx context.Context, k AWSKey) error {
	key := s.key("auth", "awskeys", k.AccessKeyID)
	_, err := s.cli.Put(ctx, key, s.sealedAWSKey(k, key))
	return err
}

func (s *Store) sealedAWSKey(k AWSKey, key string) string {
	k.SecretAccessKey = s.seal(k.SecretAccessKey, key)
	b, _ := json.Marshal(k)
	return string(b)
}

// GetAWSKey looks up an access key, or model.ErrNotFound.
func (s *Store) GetAWSKey(ctx context.Context, id string) (*AWSKey, error) {
	var k AWSKey
	key := s.key("auth", "awskeys", id)
	if _, err := s.get(ctx, key, &k); err != nil {
		return nil, err
	}
	secret, err := s.open(k.SecretAccessKey, key)
	if err != nil {
		return nil, err
	}
	k.SecretAccessKey = secret
	return &k, nil
}

// Bootstrap runs fn exactly once per cluster: the first server to claim
// meta/cluster runs it (creating the first tokens). It reports whether fn ran.
func (s *Store) Bootstrap(ctx context.Context, clusterID string, fn func() error) (bool, error) {
	k := s.key("meta", "bootstrap-claim")
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, clusterID)).Commit()
	if err != nil {
		return false, fmt.Errorf("store: bootstrap: %w", err)
	}
	if !resp.Succeeded {
		return false, nil
	}
	if err := fn(); err != nil {
		// Let a later start try again.
		_, _ = s.cli.Delete(ctx, k)
		return false, err
	}
	_, err = s.cli.Put(ctx, s.key("meta", "cluster"), clusterID)
	return true, err
}

// ClusterID returns the id stored at bootstrap.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	resp, err := s.cli.Get(ctx, s.key("meta", "cluster"))
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", errors.New("store: cluster not bootstrapped")
	}
	return string(resp.Kvs[0].Value), nil
}

var _ = model.ErrNotFound

// PutAWSKeyIfAbsent stores an access key unless one with its id exists.
func (s *Store) PutAWSKeyIfAbsent(ctx context.Context, k AWSKey) error {
	key := s.key("auth", "awskeys", k.AccessKeyID)
	_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, s.sealedAWSKey(k, key))).Commit()
	return err
}
