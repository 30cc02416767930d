package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PutNodeNonce records a registration nonce for ttl. It lives in etcd, not
// in one replica's memory, so an agent may fetch it from one server and
// register with another, and so each nonce is used once cluster-wide.
func (s *Store) PutNodeNonce(ctx context.Context, nonce string, ttl time.Duration) error {
	lease, err := s.cli.Grant(ctx, int64(ttl.Seconds()))
	if err != nil {
		return fmt.Errorf("store: registration nonce: %w", err)
	}
	if _, err := s.cli.Put(ctx, s.key("auth", "nodenonces", nonce), "", clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("store: registration nonce: %w", err)
	}
	return nil
}

// TakeNodeNonce consumes a nonce: it reports whether the nonce existed (was
// handed out, has not expired and was not used before).
func (s *Store) TakeNodeNonce(ctx context.Context, nonce string) (bool, error) {
	if nonce == "" {
		return false, nil
	}
	resp, err := s.cli.Delete(ctx, s.key("auth", "nodenonces", nonce))
	if err != nil {
		return false, fmt.Errorf("store: registration nonce: %w", err)
	}
	return resp.Deleted == 1, nil
}
