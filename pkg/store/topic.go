package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Topic keys (see doc.go):
//
//	topics/<name>                  model.Topic
//	topicsubs/<subscriptionId>     model.Subscription
//	tmsgs/<topicId>/<messageId>    model.TopicMessage: a publish with its pending deliveries
//
// A published message is keyed by its topic's ID, so deleting a topic is one
// range delete of its pending deliveries.

func (s *Store) topicKey(name string) string      { return s.key("topics", name) }
func (s *Store) topicSubKey(id string) string     { return s.key("topicsubs", id) }
func (s *Store) tmsgPrefix(topicID string) string { return s.key("tmsgs", topicID) + "/" }

// guarded runs ops in one transaction, conditional on guard when non-nil.
func (s *Store) guarded(ctx context.Context, guard *Guard, ops ...clientv3.Op) error {
	txn := s.cli.Txn(ctx)
	if guard != nil {
		txn = txn.If(*guard)
	}
	resp, err := txn.Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	return nil
}

// PutTopic writes a topic's definition.
func (s *Store) PutTopic(ctx context.Context, t *model.Topic, guard *Guard) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.guarded(ctx, guard, clientv3.OpPut(s.topicKey(t.Name), string(b))); err != nil {
		return fmt.Errorf("store: put topic %s: %w", t.Name, err)
	}
	return nil
}

// ListTopics returns every topic in name order.
func (s *Store) ListTopics(ctx context.Context) ([]*model.Topic, error) {
	ts, _, err := listRev[model.Topic](ctx, s, s.key("topics")+"/")
	return ts, err
}

// DeleteTopic removes a topic, the given subscriptions of it and every
// pending delivery of its incarnation t.ID.
func (s *Store) DeleteTopic(ctx context.Context, t *model.Topic, subIDs []string, guard *Guard) error {
	ops := []clientv3.Op{clientv3.OpDelete(s.topicKey(t.Name)), clientv3.OpDelete(s.tmsgPrefix(t.ID), clientv3.WithPrefix())}
	for _, id := range subIDs {
		ops = append(ops, clientv3.OpDelete(s.topicSubKey(id)))
	}
	if err := s.guarded(ctx, guard, ops...); err != nil {
		return fmt.Errorf("store: delete topic %s: %w", t.Name, err)
	}
	return nil
}

// PutSubscription writes a subscription.
func (s *Store) PutSubscription(ctx context.Context, sub *model.Subscription, guard *Guard) error {
	b, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	if err := s.guarded(ctx, guard, clientv3.OpPut(s.topicSubKey(sub.ID), string(b))); err != nil {
		return fmt.Errorf("store: put subscription %s: %w", sub.ID, err)
	}
	return nil
}

// DeleteSubscription removes a subscription.
func (s *Store) DeleteSubscription(ctx context.Context, id string, guard *Guard) error {
	if err := s.guarded(ctx, guard, clientv3.OpDelete(s.topicSubKey(id))); err != nil {
		return fmt.Errorf("store: delete subscription %s: %w", id, err)
	}
	return nil
}

// ListSubscriptions returns every subscription of every topic.
func (s *Store) ListSubscriptions(ctx context.Context) ([]*model.Subscription, error) {
	return list[model.Subscription](ctx, s, s.key("topicsubs")+"/")
}

// TopicOp is one write of a batched topic commit: a published message put
// (Encoded set) or deleted (Encoded nil).
type TopicOp struct {
	TopicID   string
	MessageID string
	Encoded   []byte
}

// CommitTopicOps writes ops in one transaction (callers keep len(ops)
// within MaxBatch and never name one message twice); guard, when non-nil,
// must hold (ErrNotLeader otherwise).
func (s *Store) CommitTopicOps(ctx context.Context, ops []TopicOp, guard *Guard) error {
	tops := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		k := s.tmsgPrefix(op.TopicID) + op.MessageID
		if op.Encoded != nil {
			tops[i] = clientv3.OpPut(k, string(op.Encoded))
		} else {
			tops[i] = clientv3.OpDelete(k)
		}
	}
	if err := s.guarded(ctx, guard, tops...); err != nil {
		return fmt.Errorf("store: commit %d topic writes: %w", len(ops), err)
	}
	return nil
}

// LoadTopicMessages returns the stored messages (pending deliveries) of
// topic incarnation topicID.
func (s *Store) LoadTopicMessages(ctx context.Context, topicID string) ([]*model.TopicMessage, error) {
	return list[model.TopicMessage](ctx, s, s.tmsgPrefix(topicID))
}
