package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
}

// HashToken is how tokens are stored: only their SHA-256.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// PutToken stores a token (hashed) with a role.
func (s *Store) PutToken(ctx context.Context, tok string, role auth.Role, name string) error {
	b, _ := json.Marshal(tokenRecord{Role: role, Name: name})
	_, err := s.cli.Put(ctx, s.key("auth", "tokens", HashToken(tok)), string(b))
	return err
}

// TokenInfo returns a token's role and name (the node of a node token), or
// model.ErrNotFound.
func (s *Store) TokenInfo(ctx context.Context, tok string) (auth.Identity, error) {
	var r tokenRecord
	if _, err := s.get(ctx, s.key("auth", "tokens", HashToken(tok)), &r); err != nil {
		return auth.Identity{}, err
	}
	return auth.Identity{Role: r.Role, Name: r.Name}, nil
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
	b, _ := json.Marshal(k)
	if _, err := s.cli.Put(ctx, s.key("auth", "awskeys", k.AccessKeyID), string(b), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("store: access key: %w", err)
	}
	return nil
}

// DeleteAWSKey removes an access key (a retired one); absent is fine.
func (s *Store) DeleteAWSKey(ctx context.Context, id string) error {
	_, err := s.cli.Delete(ctx, s.key("auth", "awskeys", id))
	return err
}

// PutAWSKey stores an access key.
func (s *Store) PutAWSKey(ctx context.Context, k AWSKey) error {
	b, _ := json.Marshal(k)
	_, err := s.cli.Put(ctx, s.key("auth", "awskeys", k.AccessKeyID), string(b))
	return err
}

// GetAWSKey looks up an access key, or model.ErrNotFound.
func (s *Store) GetAWSKey(ctx context.Context, id string) (*AWSKey, error) {
	var k AWSKey
	if _, err := s.get(ctx, s.key("auth", "awskeys", id), &k); err != nil {
		return nil, err
	}
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
	b, _ := json.Marshal(k)
	key := s.key("auth", "awskeys", k.AccessKeyID)
	_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(b))).Commit()
	return err
}
