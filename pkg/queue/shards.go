package queue

import (
	"context"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/store"
)

// Queues are spread over the server replicas in shards. A queue belongs to
// shard fnv32a(name) mod Shards, and each shard has its own etcd election
// (store.ShardElection(ShardGroup, n)); the replica holding it keeps that
// shard's queues in memory and serves them, the others forward to it.
//
// Which replica holds which shard is rendezvous hashing over the live
// replicas (members/queues/<id>, bound to each replica's session lease):
// the replica that ranks first for a shard campaigns for it at once; a
// holder that no longer ranks first hands the shard over once the
// preferred replica has been live for HandoffDelay (so a replica that
// flaps does not drag shards back and forth). All of one replica's keys
// hang on one lease, so when it dies its shards are free as soon as the
// lease expires (LeaseTTL), the survivors' member caches see it leave at
// the same moment, and each orphaned shard's new first choice takes it
// over. Any replica also campaigns for a shard that has had no owner for
// two lease periods, whatever the ranking, so a shard is never left
// unowned because replicas disagree about who is live.

// ShardGroup names the queue shards' elections and the member group.
const ShardGroup = "queues"

// legacyElection is the single election through which versions before the
// shards owned every queue. While a replica of such a version holds it
// (a rolling upgrade), this version owns no shard and forwards every queue
// request to that replica: two owners of one queue would hand one message
// to two consumers and bring deleted messages back.
const legacyElection = "queues"

// TopicShard is the shard whose owner also serves the topics (pkg/topic
// follows it), so topic writes carry that shard's guard.
const TopicShard = 0

// ShardOf is the shard of queue name among n shards.
func ShardOf(name string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

func (b *Broker) shardOf(name string) int { return ShardOf(name, b.opts.Shards) }

// rank is the rendezvous score of replica id for shard.
func rank(shard int, id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte{byte(shard), byte(shard >> 8)})
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}

// membership is one session's view of the live replicas and the shards'
// owners, and the signal shard loops wait on.
type membership struct {
	self          string
	handoff       time.Duration
	leaderlessMax time.Duration

	mu         sync.Mutex
	members    map[string]time.Time // id → when this replica first saw it
	ready      bool
	leaders    map[int]string
	leaderless map[int]time.Time // shard → since when it has had no owner
	legacy     string            // the id holding legacyElection ("" normally)
	changed    chan struct{}     // closed and replaced on every change
}

func newMembership(self string, handoff, leaderlessMax time.Duration) *membership {
	return &membership{self: self, handoff: handoff, leaderlessMax: leaderlessMax, members: map[string]time.Time{},
		leaders: map[int]string{}, leaderless: map[int]time.Time{}, changed: make(chan struct{})}
}

func (m *membership) signal() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// wait returns the channel closed at the next change.
func (m *membership) wait() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *membership) setMembers(ids []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	live := map[string]time.Time{}
	for _, id := range ids {
		if t, ok := m.members[id]; ok {
			live[id] = t
		} else {
			live[id] = now
		}
	}
	m.members, m.ready = live, true
	m.signal()
}

func (m *membership) setLeaders(ls map[int]string, shards int, legacy string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.legacy = legacy
	now := time.Now()
	for s := range shards {
		if ls[s] == "" {
			if _, ok := m.leaderless[s]; !ok {
				m.leaderless[s] = now
			}
		} else {
			delete(m.leaderless, s)
		}
	}
	m.leaders = ls
	m.signal()
}

// preferred is the live replica ranking first for shard (this replica
// counts as live even before its own key shows in the cache).
func (m *membership) preferred(shard int) (string, time.Time) {
	best, bestRank, since := m.self, rank(shard, m.self), time.Time{}
	for id, t := range m.members {
		if r := rank(shard, id); r > bestRank || (r == bestRank && id < best) {
			best, bestRank, since = id, r, t
		}
	}
	return best, since
}

// shouldCampaign: this replica ranks first for shard, or the shard has
// been without an owner for too long.
func (m *membership) shouldCampaign(shard int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ready || m.legacy != "" {
		return false
	}
	if p, _ := m.preferred(shard); p == m.self {
		return true
	}
	t, ok := m.leaderless[shard]
	return ok && time.Since(t) > m.leaderlessMax
}

// shouldHandOff: another live replica ranks first for shard and has been
// live for the hand-off delay.
func (m *membership) shouldHandOff(shard int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.legacy != "" {
		return true
	}
	p, since := m.preferred(shard)
	return p != m.self && !since.IsZero() && time.Since(since) >= m.handoff
}

// serveSession runs the shard loops under one session until it ends or ctx
// does; when it returns every shard it held is released.
func (b *Broker) serveSession(ctx context.Context, sess *store.Session, id string) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newMembership(id, b.opts.HandoffDelay, 2*time.Duration(b.opts.LeaseTTL)*time.Second)
	var wg sync.WaitGroup
	defer wg.Wait()
	members := b.st.GroupCache(ShardGroup)
	sub := members.Subscribe()
	defer sub.Close()
	wg.Go(func() { _ = members.Run(sctx) })
	wg.Go(func() {
		select {
		case <-members.Ready():
		case <-sctx.Done():
			return
		}
		for {
			m.setMembers(memberIDs(members))
			select {
			case <-sub.C():
				sub.Drain()
			case <-sctx.Done():
				return
			}
		}
	})
	// The owners of other shards, for forwarding, and which shards have
	// none (for the fallback campaign); and a timer that re-checks
	// hand-offs as replicas become stable.
	wg.Go(func() {
		t := time.NewTicker(b.opts.RefreshInterval)
		defer t.Stop()
		for {
			rctx, rcancel := context.WithTimeout(sctx, 2*time.Second)
			ls, err := b.st.ShardLeaders(rctx, ShardGroup)
			var legacy string
			if err == nil {
				legacy, err = b.st.LeaderID(rctx, legacyElection)
			}
			rcancel()
			if err == nil {
				if legacy != "" && m.legacyChanged(legacy) {
					b.log.Warn("a server of a version before queue shards owns every queue; this one forwards to it until it stops", "owner", legacy)
				}
				b.setTable(ls, legacy)
				m.setLeaders(ls, b.opts.Shards, legacy)
			}
			select {
			case <-t.C:
			case <-sctx.Done():
				return
			}
		}
	})
	wg.Go(func() { b.runInbox(sctx) })
	for s := range b.opts.Shards {
		wg.Go(func() { b.shardLoop(sctx, sess, m, s, id) })
	}
	select {
	case <-sess.Done():
		b.log.Warn("lost the queue shards' etcd session; joining again")
	case <-ctx.Done():
	}
	cancel()
}

// memberIDs lists a group cache's member ids.
func memberIDs(c *store.Cache[string]) []string {
	var ids []string
	for _, v := range c.List() {
		ids = append(ids, *v)
	}
	sort.Strings(ids)
	return ids
}

// shardLoop campaigns for one shard while this replica should own it,
// serves it while it does, and hands it over when another replica should.
func (b *Broker) shardLoop(ctx context.Context, sess *store.Session, m *membership, shard int, id string) {
	name := store.ShardElection(ShardGroup, shard)
	for ctx.Err() == nil {
		for !m.shouldCampaign(shard) {
			select {
			case <-m.wait():
			case <-ctx.Done():
				return
			}
		}
		// Campaign; withdraw when this replica stops wanting the shard
		// while waiting in line (its preferred owner came back).
		cctx, ccancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-m.wait():
					if !m.shouldCampaign(shard) {
						ccancel()
						return
					}
				case <-stop:
					return
				}
			}
		}()
		l, err := b.st.CampaignIn(cctx, sess, name, id)
		close(stop)
		ccancel()
		if err != nil {
			if ctx.Err() == nil && cctx.Err() == nil {
				b.log.Warn("queue shard campaign failed; retrying", "shard", shard, "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		o, err := b.takeOver(ctx, shard, l)
		if err != nil {
			b.log.Error("loading a queue shard failed; giving it up", "shard", shard, "err", err)
			resign(l)
			sleepCtx(ctx, time.Second)
			continue
		}
		reason := b.hold(ctx, sess, m, o)
		b.setOwner(shard, nil)
		o.stop()
		resign(l)
		b.log.Info("released queue shard", "shard", shard, "reason", reason)
	}
}

// hold waits while this replica should keep serving o's shard.
func (b *Broker) hold(ctx context.Context, sess *store.Session, m *membership, o *owner) string {
	for {
		if m.shouldHandOff(o.shard) {
			p, _ := m.preferred(o.shard)
			return "handed over to " + p
		}
		// Re-check hand-offs at least every refresh (stability is a
		// matter of time, not only of changes).
		t := time.NewTimer(b.opts.RefreshInterval)
		select {
		case <-sess.Done():
			t.Stop()
			return "etcd session ended"
		case <-o.ctx.Done():
			t.Stop()
			return "ownership lost"
		case <-ctx.Done():
			t.Stop()
			return "stopping"
		case <-m.wait():
		case <-t.C:
		}
		t.Stop()
	}
}

func resign(l *store.Leader) {
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = l.Resign(rctx)
	cancel()
}

// legacyChanged reports whether legacy differs from the holder last seen.
func (m *membership) legacyChanged(legacy string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.legacy != legacy
}

// setTable records the shards' owners as read from etcd (every shard's
// is legacy's while one holds the legacy election).
func (b *Broker) setTable(ls map[int]string, legacy string) {
	b.urlMu.Lock()
	defer b.urlMu.Unlock()
	t := make([]string, b.opts.Shards)
	for s, id := range ls {
		if s >= 0 && s < len(t) {
			t[s] = advertised(id)
		}
	}
	if legacy != "" {
		for s := range t {
			t[s] = advertised(legacy)
		}
	}
	b.table, b.tableAt = t, time.Now()
}

// advertised is the URL an owner id stands for ("" for a replica without
// an advertised URL: a single server).
func advertised(id string) string {
	if strings.HasPrefix(id, "local-") {
		return ""
	}
	return id
}

// shardURL is the advertised URL of shard's owner ("" when unknown or
// none), at most a refresh interval old; read from etcd when older.
func (b *Broker) shardURL(ctx context.Context, shard int) string {
	b.urlMu.Lock()
	fresh := time.Since(b.tableAt) < 2*b.opts.RefreshInterval
	var u string
	if shard < len(b.table) {
		u = b.table[shard]
	}
	b.urlMu.Unlock()
	if fresh {
		return u
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ls, err := b.st.ShardLeaders(rctx, ShardGroup)
	if err != nil {
		return u
	}
	legacy, err := b.st.LeaderID(rctx, legacyElection)
	if err != nil {
		return u
	}
	b.setTable(ls, legacy)
	if legacy != "" {
		return advertised(legacy)
	}
	return advertised(ls[shard])
}

// ShardOwners is the advertised URL of each shard's owner ("" when none
// or unknown), for the dashboard and tests.
func (b *Broker) ShardOwners(ctx context.Context) []string {
	out := make([]string, b.opts.Shards)
	for s := range out {
		if b.ownsShard(s) {
			out[s] = b.opts.AdvertiseURL
			continue
		}
		out[s] = b.shardURL(ctx, s)
	}
	return out
}

// ShardsOwned is how many queue shards this replica owns now.
func (b *Broker) ShardsOwned() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, o := range b.owners {
		if o != nil {
			n++
		}
	}
	return n
}
