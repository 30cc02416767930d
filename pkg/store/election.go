package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Leader is this process's hold on the controller election.
type Leader struct {
	session  *concurrency.Session
	election *concurrency.Election
	guard    Guard
}

// Campaign blocks until this process leads the election called name, or ctx
// ends. The hold lasts while the process keeps its etcd session (ttl
// seconds without contact lose it).
func (s *Store) Campaign(ctx context.Context, name, id string, ttl int) (*Leader, error) {
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("store: election session: %w", err)
	}
	el := concurrency.NewElection(sess, s.key("election", name))
	if err := el.Campaign(ctx, id); err != nil {
		sess.Close()
		return nil, fmt.Errorf("store: campaign: %w", err)
	}
	g := clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())
	return &Leader{session: sess, election: el, guard: g}, nil
}

// Done is closed when leadership is lost (the session expired).
func (l *Leader) Done() <-chan struct{} { return l.session.Done() }

// Guard is a comparison that holds only while this process leads; guarded
// writes (CommitTasks) fail with ErrNotLeader once it is lost.
func (l *Leader) Guard() *Guard { return &l.guard }

// Resign gives up leadership.
func (l *Leader) Resign(ctx context.Context) error {
	err := l.election.Resign(ctx)
	l.session.Close()
	return err
}

// LeaderID returns the id of the current leader of election name, or "".
func (s *Store) LeaderID(ctx context.Context, name string) (string, error) {
	resp, err := s.cli.Get(ctx, s.key("election", name)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
