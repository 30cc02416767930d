package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Sharded ownership (pkg/queue spreads its queues over the replicas in
// shards). One etcd session per replica carries its membership key and
// every shard election it holds, so a replica that dies or is cut off
// loses all of them together when its one lease expires.
//
//	members/<group>/<id>                 its id, bound to the replica's session lease (who is alive)
//	election/<group>-<shard:02d>/<lease> the shard's owner (concurrency.Election; value: its id)
//	qinbox/<shard:02d>/<queueId>/<id>    a message for a queue of that shard, written by another
//	                                     shard's owner or a topic delivery; its owner moves it into
//	                                     qmsgs in one guarded transaction

// Session is one etcd lease this process keeps alive.
type Session struct{ s *concurrency.Session }

// NewSession opens a session of ttl seconds. It lives until Close (which
// revokes its lease even when ctx has ended) or until etcd is out of reach
// for ttl.
func (s *Store) NewSession(ctx context.Context, ttl int) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(ttl), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	return &Session{sess}, nil
}

// Done is closed when the session's lease is lost.
func (x *Session) Done() <-chan struct{} { return x.s.Done() }

// Close revokes the session's lease (its keys vanish at once).
func (x *Session) Close() { _ = x.s.Close() }

func (s *Store) memberPrefix(group string) string { return s.key("members", group) + "/" }

// JoinGroup registers id as a live member of group under sess's lease. A
// key of the same id under another lease is a previous incarnation's (kill
// -9 and restart): its lease is revoked, so that its elections end now
// rather than after their ttl.
func (s *Store) JoinGroup(ctx context.Context, sess *Session, group, id string) error {
	k := s.memberPrefix(group) + id
	resp, err := s.cli.Get(ctx, k)
	if err != nil {
		return fmt.Errorf("store: join %s: %w", group, err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease != 0 && clientv3.LeaseID(kv.Lease) != sess.s.Lease() {
			_, _ = s.cli.Revoke(ctx, clientv3.LeaseID(kv.Lease))
		}
	}
	if _, err := s.cli.Put(ctx, k, id, clientv3.WithLease(sess.s.Lease())); err != nil {
		return fmt.Errorf("store: join %s: %w", group, err)
	}
	return nil
}

// GroupCache mirrors the live members of group (keys and values: member ids).
func (s *Store) GroupCache(group string) *Cache[string] {
	return newCache[string](s, s.memberPrefix(group))
}

// CampaignIn is Campaign within an existing session: it blocks until this
// process leads election name or ctx ends (then it withdraws). Resigning
// the returned Leader leaves the session open.
func (s *Store) CampaignIn(ctx context.Context, sess *Session, name, id string) (*Leader, error) {
	el := concurrency.NewElection(sess.s, s.key("election", name))
	if err := el.Campaign(ctx, id); err != nil {
		// A campaign cut short may leave its key behind (the put went
		// through but its answer did not arrive): under a lease that lives
		// on, it would stand in line forever and block whoever should win.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = s.cli.Delete(dctx, fmt.Sprintf("%s/%x", s.key("election", name), sess.s.Lease()))
		cancel()
		return nil, fmt.Errorf("store: campaign %s: %w", name, err)
	}
	g := clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())
	return &Leader{session: sess.s, election: el, guard: g, shared: true}, nil
}

// ShardLeaders returns the id leading each election group-<shard> (by
// shard number), in one read.
func (s *Store) ShardLeaders(ctx context.Context, group string) (map[int]string, error) {
	prefix := s.key("election", group) + "-"
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("store: leaders of %s: %w", group, err)
	}
	out := map[int]string{}
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), prefix)
		var shard int
		if _, err := fmt.Sscanf(rest, "%d/", &shard); err != nil {
			continue
		}
		if _, ok := out[shard]; !ok { // the first created leads
			out[shard] = string(kv.Value)
		}
	}
	return out, nil
}

// ShardElection is the election name of one shard of group.
func ShardElection(group string, shard int) string { return fmt.Sprintf("%s-%02d", group, shard) }

// InboxMessage is a message on its way into a queue owned by another
// replica (qinbox/...): the queue's owner moves it into the queue.
type InboxMessage struct {
	Shard   int                 `json:"s"`
	QueueID string              `json:"qid"`
	ID      string              `json:"id"`
	Queue   string              `json:"q"`
	Message *model.QueueMessage `json:"m"`
}

func (s *Store) inboxPrefix(shard int) string { return fmt.Sprintf("%s/%02d/", s.key("qinbox"), shard) }

// QueueInboxCache mirrors the inboxes of every shard (one watch).
func (s *Store) QueueInboxCache() *Cache[InboxMessage] {
	return newCache[InboxMessage](s, s.key("qinbox")+"/")
}

// PutQueueInbox stores m in the inbox of m.Shard for queue m.QueueID under
// m.ID (unguarded: any replica may write to any inbox; ids are unique).
func (s *Store) PutQueueInbox(ctx context.Context, m InboxMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := s.cli.Put(ctx, s.inboxPrefix(m.Shard)+m.QueueID+"/"+m.ID, string(b)); err != nil {
		return fmt.Errorf("store: queue inbox: %w", err)
	}
	return nil
}
