package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Change is one observed change of a cached object. Obj is nil when the key
// was deleted; Prev is the object before the change (nil when created).
type Change[T any] struct {
	Key  string // the id part of the key (task id, node name)
	Obj  *T
	Prev *T
}

// Cache mirrors every object under a prefix in memory: a list, then a watch
// from the list's revision, so no change is missed; after a compaction it
// lists again and reports the differences. Objects handed out are shared
// and must be treated as read-only.
type Cache[T any] struct {
	s      *Store
	prefix string

	mu      sync.RWMutex
	objs    map[string]*T
	rev     int64
	subs    map[*Subscription[T]]struct{}
	ready   chan struct{}
	readyOK bool
	revCond *sync.Cond
}

// Subscription receives changes in order. It never blocks the cache: changes
// queue in memory until Next drains them.
type Subscription[T any] struct {
	filter func(Change[T]) bool
	mu     sync.Mutex
	queue  []Change[T]
	signal chan struct{}
	c      *Cache[T]
}

// C is signalled when changes are waiting.
func (s *Subscription[T]) C() <-chan struct{} { return s.signal }

// Drain returns the queued changes.
func (s *Subscription[T]) Drain() []Change[T] {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	return q
}

// Close stops the subscription.
func (s *Subscription[T]) Close() {
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
}

func (s *Subscription[T]) push(ch Change[T]) {
	if s.filter != nil && !s.filter(ch) {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, ch)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// TaskCache mirrors every task.
func (s *Store) TaskCache() *Cache[model.Task] { return newCache[model.Task](s, s.taskPrefix()) }

// NodeCache mirrors every node record.
func (s *Store) NodeCache() *Cache[model.Node] { return newCache[model.Node](s, s.key("nodes")+"/") }

// AliveCache mirrors the liveness keys (the value is the node name).
func (s *Store) AliveCache() *Cache[string] { return newCache[string](s, s.key("alive")+"/") }

func newCache[T any](s *Store, prefix string) *Cache[T] {
	c := &Cache[T]{s: s, prefix: prefix, objs: map[string]*T{}, subs: map[*Subscription[T]]struct{}{}, ready: make(chan struct{})}
	c.revCond = sync.NewCond(&c.mu)
	return c
}

func decode[T any](b []byte, rev int64) (*T, error) {
	v := new(T)
	if sp, ok := any(v).(*string); ok {
		*sp = string(b)
		return v, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	setModRevision(v, rev)
	return v, nil
}

// Run keeps the cache current until ctx ends.
func (c *Cache[T]) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.syncOnce(ctx)
		if ctx.Err() != nil {
			break
		}
		c.s.log.Warn("cache watch broke; listing again", "prefix", c.prefix, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	c.mu.Lock()
	c.revCond.Broadcast()
	c.mu.Unlock()
	return ctx.Err()
}

func (c *Cache[T]) syncOnce(ctx context.Context) error {
	resp, err := c.s.cli.Get(ctx, c.prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	fresh := make(map[string]*T, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		v, err := decode[T](kv.Value, kv.ModRevision)
		if err != nil {
			c.s.log.Error("skipping undecodable value", "key", string(kv.Key), "err", err)
			continue
		}
		fresh[strings.TrimPrefix(string(kv.Key), c.prefix)] = v
	}
	c.mu.Lock()
	// Report differences against what subscribers saw before.
	for k, v := range fresh {
		if old := c.objs[k]; old == nil || modRev(old) != modRev(v) {
			c.publish(Change[T]{Key: k, Obj: v, Prev: old})
		}
	}
	for k, old := range c.objs {
		if _, ok := fresh[k]; !ok {
			c.publish(Change[T]{Key: k, Prev: old})
		}
	}
	c.objs = fresh
	c.rev = resp.Header.Revision
	if !c.readyOK {
		c.readyOK = true
		close(c.ready)
	}
	c.revCond.Broadcast()
	c.mu.Unlock()

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := c.s.cli.Watch(wctx, c.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	for wr := range wch {
		if err := wr.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return err
			}
			return err
		}
		c.mu.Lock()
		for _, ev := range wr.Events {
			k := strings.TrimPrefix(string(ev.Kv.Key), c.prefix)
			old := c.objs[k]
			if ev.Type == clientv3.EventTypeDelete {
				delete(c.objs, k)
				if old != nil {
					c.publish(Change[T]{Key: k, Prev: old})
				}
				continue
			}
			v, err := decode[T](ev.Kv.Value, ev.Kv.ModRevision)
			if err != nil {
				c.s.log.Error("skipping undecodable value", "key", k, "err", err)
				continue
			}
			c.objs[k] = v
			c.publish(Change[T]{Key: k, Obj: v, Prev: old})
		}
		if wr.Header.Revision > c.rev {
			c.rev = wr.Header.Revision
		}
		c.revCond.Broadcast()
		c.mu.Unlock()
	}
	return errors.New("watch closed")
}

func modRev(v any) int64 {
	switch o := v.(type) {
	case *model.Task:
		return o.ModRevision
	case *model.Node:
		return o.ModRevision
	}
	return -1
}

func (c *Cache[T]) publish(ch Change[T]) {
	for s := range c.subs {
		s.push(ch)
	}
}

// Ready is closed after the first full list.
func (c *Cache[T]) Ready() <-chan struct{} { return c.ready }

// Subscribe returns a subscription that gets every change from now on and
// the current contents (each object as a creation), atomically.
func (c *Cache[T]) Subscribe() *Subscription[T] { return c.SubscribeFilter(nil) }

// SubscribeFilter is Subscribe keeping only the changes keep accepts
// (evaluated in the cache's goroutine: keep must be cheap).
func (c *Cache[T]) SubscribeFilter(keep func(Change[T]) bool) *Subscription[T] {
	s := &Subscription[T]{signal: make(chan struct{}, 1), c: c, filter: keep}
	c.mu.Lock()
	for k, v := range c.objs {
		ch := Change[T]{Key: k, Obj: v}
		if keep == nil || keep(ch) {
			s.queue = append(s.queue, ch)
		}
	}
	c.subs[s] = struct{}{}
	// Signal while still holding c.mu: once it is released, publishers may
	// push to s concurrently.
	if len(s.queue) > 0 {
		s.signal <- struct{}{}
	}
	c.mu.Unlock()
	return s
}

// Get returns the cached object or nil.
func (c *Cache[T]) Get(key string) *T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.objs[key]
}

// List returns every cached object.
func (c *Cache[T]) List() []*T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*T, 0, len(c.objs))
	for _, v := range c.objs {
		out = append(out, v)
	}
	return out
}

// Len is the number of cached objects.
func (c *Cache[T]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.objs)
}

// WaitRevision blocks until the cache has seen etcd revision rev (so a
// reader sees its own writes) or ctx ends.
func (c *Cache[T]) WaitRevision(ctx context.Context, rev int64) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.revCond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.rev < rev {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.revCond.Wait()
	}
	return nil
}
