package topic

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// TestSavedProgressNeverOutlivesTheDelete: a message's record is rewritten
// with the subscriptions still pending after a delivery that ends while
// another one is retrying, and deleted once the last ends. The two writes
// go through the owner's several commit pipelines; if the rewrite could
// land after the delete, the record of a message delivered everywhere
// would stay in etcd until the next take-over, which delivers it again.
// The test holds the rewrite back until the delete has committed (or 5 s
// passed) and checks that no record is left.
func TestSavedProgressNeverOutlivesTheDelete(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-save-race", nil)
	policy := map[string]string{"DeliveryPolicy": `{"healthyRetryPolicy":{"minDelayTarget":5,"maxDelayTarget":5,"numRetries":10}}`}
	e.q.set(e.q.down, "sr-1", true)
	e.q.set(e.q.down, "sr-2", true)
	e.subscribe(arn, "sr-1", policy)
	sub2 := e.subscribe(arn, "sr-2", policy)
	e.publish(arn, PublishInput{Message: "m"})
	eventually(t, "both deliveries failed once and wait for a retry", func() bool { return e.clock.waiting() == 2 })

	// Hold back the rewrite that leaves only sr-2 pending (the one sr-1's
	// delivery makes) until the message's delete committed.
	var (
		mu                   sync.Mutex
		held                 bool
		deleted              = make(chan struct{})
		rewritten            = make(chan struct{})
		deleteOnce, heldOnce sync.Once
	)
	hook := func(ops []store.TopicOp, commit func() error) error {
		hold := false
		for _, op := range ops {
			if op.Encoded == nil {
				continue
			}
			var rec model.TopicMessage
			if json.Unmarshal(op.Encoded, &rec) == nil && len(rec.Pending) == 1 && strings.HasSuffix(sub2, rec.Pending[0]) {
				mu.Lock()
				hold, held = !held, true
				mu.Unlock()
			}
		}
		if hold {
			select {
			case <-deleted:
			case <-time.After(5 * time.Second):
			}
			err := commit()
			heldOnce.Do(func() { close(rewritten) })
			return err
		}
		err := commit()
		for _, op := range ops {
			if op.Encoded == nil && err == nil {
				deleteOnce.Do(func() { close(deleted) })
			}
		}
		return err
	}
	commitHook.Store(&hook)
	defer commitHook.Store(nil)

	e.q.set(e.q.down, "sr-1", false)
	e.clock.Advance(5 * time.Second) // sr-1 delivers, sr-2 fails again
	eventually(t, "sr-1 has the message and sr-2 waits for its next retry", func() bool {
		return len(e.q.got("sr-1")) == 1 && e.clock.waiting() == 1
	})
	e.q.set(e.q.down, "sr-2", false)
	e.clock.Advance(5 * time.Second)
	eventually(t, "sr-2 has the message", func() bool { return len(e.q.got("sr-2")) == 1 })
	select {
	case <-rewritten:
	case <-time.After(30 * time.Second):
		t.Fatal("the progress rewrite leaving sr-2 pending never happened")
	}
	eventually(t, "the message's delete committed", func() bool {
		select {
		case <-deleted:
			return true
		default:
			return false
		}
	})
	if n := e.stored("t-save-race"); n != 0 {
		t.Errorf("%d record(s) left of a message delivered to every subscription: a progress rewrite landed after its delete", n)
	}
}
