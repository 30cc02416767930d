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
	shared   bool // the session is the caller's (CampaignIn): Resign leaves it open
}

// Campaign blocks until this process leads the election called name, or ctx
// ends. The hold lasts while the process keeps its etcd session (ttl
// seconds without contact lose it).
func (s *Store) Campaign(ctx context.Context, name, id string, ttl int) (*Leader, error) {
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("store: election session: %w", err)
	}
	// A key of this election with our own id is a previous incarnation's
	// (kill -9, then a restart on the same data dir and address): revoke
	// its lease so that we take over now, not after its ttl (issue 12 saw
	// SQS answer 503 for 10-12 s). Ids name the host and listen address,
	// so another live process never has ours; and it is done only at the
	// first campaign of each election in this process, so two processes
	// misconfigured with one id cannot keep deposing each other.
	if _, done := s.staleChecked.LoadOrStore(name, true); !done {
		s.revokeOwnStale(ctx, name, id, sess.Lease())
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
	if !l.shared {
		l.session.Close()
	}
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

func (s *Store) revokeOwnStale(ctx context.Context, name, id string, mine clientv3.LeaseID) {
	resp, err := s.cli.Get(ctx, s.key("election", name)+"/", clientv3.WithPrefix())
	if err != nil {
		return // the campaign waits for the lease instead
	}
	for _, kv := range resp.Kvs {
		if string(kv.Value) == id && kv.Lease != 0 && clientv3.LeaseID(kv.Lease) != mine {
			_, _ = s.cli.Revoke(ctx, clientv3.LeaseID(kv.Lease))
		}
	}
}
