package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *Store) nodeKey(name string) string  { return s.key("nodes", name) }
func (s *Store) aliveKey(name string) string { return s.key("alive", name) }

// NodeNameTakenError is returned when a node name is registered with a
// key other than the one it was first registered with. It is a
// model.ErrNodeNameTaken (HTTP 409).
type NodeNameTakenError struct{ Name, Held, Offered string }

func (e *NodeNameTakenError) Error() string {
	return fmt.Sprintf("node name %s is taken by another host (its key %s…, this host's key %s…); "+
		"pick another name (orchlet --node-name) or remove the node with orch node rm %s",
		e.Name, keyPrefix(e.Held), keyPrefix(e.Offered), e.Name)
}

func (e *NodeNameTakenError) Unwrap() error { return model.ErrNodeNameTaken }

func keyPrefix(k string) string {
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

// RegisterNode creates or refreshes a node record and its liveness key on a
// new lease of ttl. Status (ACTIVE/DRAINING) survives re-registration.
func (s *Store) RegisterNode(ctx context.Context, n *model.Node, ttl time.Duration) (*model.Node, error) {
	lease, err := s.cli.Grant(ctx, int64(ttl.Seconds()))
	if err != nil {
		return nil, fmt.Errorf("store: grant lease for node %s: %w", n.Name, err)
	}
	for {
		var old model.Node
		rev, err := s.get(ctx, s.nodeKey(n.Name), &old)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return nil, err
		}
		if rev != 0 && old.PublicKey != "" && old.PublicKey != n.PublicKey {
			// Another host holds this name: refuse before anything of
			// the node changes (its token, lease and tasks stay its own).
			_, _ = s.cli.Revoke(ctx, lease.ID)
			return nil, &NodeNameTakenError{Name: n.Name, Held: old.PublicKey, Offered: n.PublicKey}
		}
		c := *n
		c.LeaseID = int64(lease.ID)
		c.Status = model.NodeActive
		if rev != 0 {
			c.Status = old.Status
			c.RegisteredAt = old.RegisteredAt
			c.Tags, c.UserAttributes = old.Tags, old.UserAttributes
			if len(old.UserAttributes) > 0 {
				attrs := make(map[string]string, len(n.Attributes)+len(old.UserAttributes))
				for k, v := range n.Attributes {
					attrs[k] = v
				}
				for k, v := range old.UserAttributes {
					attrs[k] = v
				}
				c.Attributes = attrs
			}
			if old.LeaseID != 0 && old.LeaseID != c.LeaseID {
				// The old lease is useless now; let it go.
				_, _ = s.cli.Revoke(ctx, clientv3.LeaseID(old.LeaseID))
			}
		}
		c.Alive = true
		k := s.nodeKey(n.Name)
		// A plain-HTTP cluster's callback token is a secret the server
		// must present: sealed at rest (NodeCallbackToken opens it).
		c.CallbackToken = s.seal(n.CallbackToken, k)
		b, _ := json.Marshal(&c)
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, string(b)), clientv3.OpPut(s.aliveKey(n.Name), n.Name, clientv3.WithLease(lease.ID))).Commit()
		if err != nil {
			return nil, fmt.Errorf("store: register node %s: %w", n.Name, err)
		}
		if resp.Succeeded {
			c.ModRevision = resp.Header.Revision
			return &c, nil
		}
	}
}

// NodeCallbackToken opens the callback token a node record carries (sealed
// by RegisterNode; a record written before sealing reads as it is).
func (s *Store) NodeCallbackToken(n *model.Node) (string, error) {
	return s.open(n.CallbackToken, s.nodeKey(n.Name))
}

// Heartbeat keeps the node's lease alive. When the lease has expired (the
// node was silent for longer than its ttl) a new one is granted, so a node
// that comes back is alive again. model.ErrNotFound means the node record is
// gone and the agent must register.
//
// knownLease is the lease the caller's cache holds for the node (0 if
// none). When it is still live the heartbeat is one lease keep-alive and
// nothing else: no read and no write goes through etcd's log, so hundreds of
// agents heartbeating cost the cluster no revisions. Only when that lease is
// gone (stale cache, expired lease) is the node record read.
func (s *Store) Heartbeat(ctx context.Context, name string, knownLease int64, ttl time.Duration) error {
	if knownLease != 0 {
		_, err := s.cli.KeepAliveOnce(ctx, clientv3.LeaseID(knownLease))
		if err == nil {
			return nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("store: heartbeat of node %s: %w", name, err)
		}
	}
	var n model.Node
	if _, err := s.get(ctx, s.nodeKey(name), &n); err != nil {
		return err
	}
	var err error
	if n.LeaseID != knownLease || knownLease == 0 {
		if _, err = s.cli.KeepAliveOnce(ctx, clientv3.LeaseID(n.LeaseID)); err == nil {
			return nil
		}
	} else {
		err = rpctypes.ErrLeaseNotFound
	}
	if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("store: heartbeat of node %s: %w", name, err)
	}
	lease, err := s.cli.Grant(ctx, int64(ttl.Seconds()))
	if err != nil {
		return fmt.Errorf("store: grant lease for node %s: %w", name, err)
	}
	if _, err := s.cli.Put(ctx, s.aliveKey(name), name, clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("store: revive node %s: %w", name, err)
	}
	return s.update(ctx, s.nodeKey(name), func(b []byte) ([]byte, error) {
		var cur model.Node
		if err := json.Unmarshal(b, &cur); err != nil {
			return nil, err
		}
		cur.LeaseID = int64(lease.ID)
		return json.Marshal(&cur)
	})
}

// GetNode reads a node with its liveness.
func (s *Store) GetNode(ctx context.Context, name string) (*model.Node, error) {
	var n model.Node
	rev, err := s.get(ctx, s.nodeKey(name), &n)
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	n.ModRevision = rev
	resp, err := s.cli.Get(ctx, s.aliveKey(name), clientv3.WithCountOnly())
	if err != nil {
		return nil, err
	}
	n.Alive = resp.Count > 0
	return &n, nil
}

// ListNodes returns every node with its liveness.
func (s *Store) ListNodes(ctx context.Context) ([]*model.Node, error) {
	nodes, rev, err := listRev[model.Node](ctx, s, s.key("nodes")+"/")
	if err != nil {
		return nil, err
	}
	resp, err := s.cli.Get(ctx, s.key("alive")+"/", clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return nil, err
	}
	alive := map[string]bool{}
	for _, kv := range resp.Kvs {
		alive[string(kv.Value)] = true
	}
	for _, n := range nodes {
		n.Alive = alive[n.Name]
	}
	return nodes, nil
}

// SetNodeStatus sets ACTIVE or DRAINING.
func (s *Store) SetNodeStatus(ctx context.Context, name, status string) (*model.Node, error) {
	err := s.update(ctx, s.nodeKey(name), func(b []byte) ([]byte, error) {
		var n model.Node
		if err := json.Unmarshal(b, &n); err != nil {
			return nil, err
		}
		if n.Status == status {
			return nil, nil
		}
		n.Status = status
		return json.Marshal(&n)
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return s.GetNode(ctx, name)
}

// UpdateNode changes a node record with fn (conditional on the revision
// read; retried on conflict). fn reports whether it changed anything.
func (s *Store) UpdateNode(ctx context.Context, name string, fn func(*model.Node) (bool, error)) (*model.Node, error) {
	err := s.update(ctx, s.nodeKey(name), func(b []byte) ([]byte, error) {
		var n model.Node
		if err := json.Unmarshal(b, &n); err != nil {
			return nil, err
		}
		changed, err := fn(&n)
		if err != nil || !changed {
			return nil, err
		}
		return json.Marshal(&n)
	})
	if errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return s.GetNode(ctx, name)
}

// DeleteNode removes a node record and its liveness key.
func (s *Store) DeleteNode(ctx context.Context, name string) (int64, error) {
	ops := append([]clientv3.Op{clientv3.OpDelete(s.nodeKey(name)), clientv3.OpDelete(s.aliveKey(name))}, s.deleteNodeTokenOps(ctx, name)...)
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("store: delete node %s: %w", name, err)
	}
	if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 {
		return 0, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
	}
	return resp.Header.Revision, nil
}
