package queue

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Options configure a Broker.
type Options struct {
	// Region appears in queue ARNs; default model.DefaultRegion.
	Region string
	// AdvertiseURL is where other replicas reach this server's HTTP
	// endpoint ("http://10.0.0.5:7070"); it is the value this server puts
	// in the queue election, so replicas that do not own the queues can
	// forward requests to the one that does. Empty: single server.
	AdvertiseURL string
	// LeaseTTL is the ownership lease in seconds (default 5): after a
	// crash, other replicas take its queue shards over within about this
	// long. It is kept alive every LeaseTTL/3, so only a pause (or a cut
	// from etcd) longer than that costs a replica its shards, and a lost
	// shard only moves: every write is guarded by its election.
	LeaseTTL int
	// Shards is how many shards the queues are spread over (default 16);
	// every replica of a cluster must use the same number.
	Shards int
	// HandoffDelay is how long a replica must have been live before the
	// owners of the shards it ranks first for hand them over (default 3 s).
	HandoffDelay time.Duration
	// RefreshInterval is how often the shards' owners are read from etcd
	// for forwarding (default 1 s).
	RefreshInterval time.Duration
	// CommitPipelines is how many batched etcd commits may be under way
	// at once (default 1: group commit; see the cost model in
	// docs/queues.md: with 8, every request of 8 concurrent clients went
	// into a transaction of its own, and etcd's per-transaction work cost
	// 15-30 % more CPU per message for no more throughput).
	CommitPipelines int
	// MaxInflight is the in-flight message limit per queue (default 120,000).
	MaxInflight int
	// SweepInterval is how often messages past their retention period and
	// expired deduplication records are deleted (default 5 s).
	SweepInterval time.Duration
	// Clock measures visibility timeouts, delays, retention, deduplication
	// windows and long polls; default the system clock. Waits on etcd
	// (ownership hand-over) always use real time.
	Clock  Clock
	Logger *slog.Logger
	// LogDir, when set, keeps each owned shard's messages and FIFO
	// deduplication records in a segment log under LogDir/shard-NN
	// instead of etcd (localstore.go). Only for a single server: the
	// log is on this server's disk, so no other replica could take the
	// shard over.
	LogDir string
	// LogSegmentBytes is the log's segment size (default 64 MiB).
	LogSegmentBytes int64
}

// Broker is Orch's queue broker: SQS semantics over messages stored in
// etcd. The queues are spread over the replicas in shards (shards.go): the
// replica holding a shard's election keeps its queues' receive state in
// memory; the others answer a NotOwnerError naming it, and the HTTP layer
// forwards there.
type Broker struct {
	st    *store.Store
	opts  Options
	log   *slog.Logger
	clock Clock

	mu      sync.RWMutex
	owners  []*owner                         // by shard; nil where another replica (or none) owns it
	ownerCh chan struct{}                    // closed and replaced whenever owners change
	shardCh []chan struct{}                  // by shard: closed and replaced when that shard's owner changes
	inbox   *store.Cache[store.InboxMessage] // every shard's inbox, while a session runs

	sends  sendListeners
	follow func(queue string) bool // queues whose backlog is published (PublishBacklogs)

	urlMu   sync.Mutex
	table   []string // owner URL by shard, as last read from etcd
	tableAt time.Time
}

// New returns a Broker; call Run to take part in owning the queues.
func New(st *store.Store, opts Options) *Broker {
	if opts.Region == "" {
		opts.Region = model.DefaultRegion
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 5
	}
	if opts.CommitPipelines <= 0 {
		opts.CommitPipelines = 1
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 120000
	}
	if opts.Shards <= 0 {
		opts.Shards = 16
	}
	if opts.HandoffDelay <= 0 {
		opts.HandoffDelay = 3 * time.Second
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Second
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Broker{st: st, opts: opts, clock: opts.Clock, log: opts.Logger.With("component", "queue"),
		owners: make([]*owner, opts.Shards), ownerCh: make(chan struct{}), shardCh: make([]chan struct{}, opts.Shards)}
	for i := range b.shardCh {
		b.shardCh[i] = make(chan struct{})
	}
	return b
}

// Region is the region in ARNs.
func (b *Broker) Region() string { return b.opts.Region }

// Run takes part in owning the queue shards until ctx ends: it joins the
// live replicas under one etcd session, campaigns for the shards this
// replica ranks first for, serves them, and joins again when the session
// is lost. When Run returns, every goroutine the broker started has ended.
func (b *Broker) Run(ctx context.Context) error {
	id := b.opts.AdvertiseURL
	if id == "" {
		id = "local-" + randHex(8)
	}
	for ctx.Err() == nil {
		sess, err := b.st.NewSession(ctx, b.opts.LeaseTTL)
		if err == nil {
			if err = b.st.JoinGroup(ctx, sess, ShardGroup, id); err != nil {
				sess.Close()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			b.log.Warn("joining the queue replicas failed; retrying", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		b.serveSession(ctx, sess, id)
		sess.Close()
	}
	return nil
}

// sleepCtx waits d of real time (a retry back-off against etcd) or until
// ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (b *Broker) setOwner(shard int, o *owner) {
	b.mu.Lock()
	b.owners[shard] = o
	close(b.ownerCh)
	b.ownerCh = make(chan struct{})
	close(b.shardCh[shard])
	b.shardCh[shard] = make(chan struct{})
	b.mu.Unlock()
}

func (b *Broker) ownsShard(shard int) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.owners[shard] != nil
}

// ownerOf returns the owner state of queue name's shard, waiting briefly
// while ownership is being taken (at start-up, after a failover or a
// hand-over); a NotOwnerError when another replica owns it.
func (b *Broker) ownerOf(ctx context.Context, name string) (*owner, error) {
	return b.shardOwner(ctx, b.shardOf(name))
}

func (b *Broker) shardOwner(ctx context.Context, shard int) (*owner, error) {
	b.mu.RLock()
	o, ch := b.owners[shard], b.ownerCh
	b.mu.RUnlock()
	if o != nil {
		return o, nil
	}
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for {
		if u := b.shardURL(ctx, shard); u != "" && u != b.opts.AdvertiseURL {
			return nil, &NotOwnerError{Shard: shard, OwnerURL: u}
		}
		select {
		case <-ch:
			b.mu.RLock()
			o, ch = b.owners[shard], b.ownerCh
			b.mu.RUnlock()
			if o != nil {
				return o, nil
			}
		case <-deadline.C:
			return nil, ErrServiceUnavailable
		case <-ctx.Done():
			return nil, ErrServiceUnavailable
		case <-poll.C:
		}
	}
}

// Owned reports whether this server owns at least one queue shard now.
func (b *Broker) Owned() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, o := range b.owners {
		if o != nil {
			return true
		}
	}
	return false
}

// OwnsQueue reports whether this server serves queue name now.
func (b *Broker) OwnsQueue(name string) bool { return b.ownsShard(b.shardOf(name)) }

// OwnerURL is the advertised URL of the replica owning the topic shard,
// which also serves the topics ("" when unknown or none).
func (b *Broker) OwnerURL(ctx context.Context) (string, error) {
	return b.shardURL(ctx, TopicShard), nil
}

// QueueOwnerURL is the advertised URL of the replica owning queue name
// ("" when unknown or none).
func (b *Broker) QueueOwnerURL(ctx context.Context, name string) string {
	s := b.shardOf(name)
	if b.ownsShard(s) {
		return b.opts.AdvertiseURL
	}
	return b.shardURL(ctx, s)
}

// SelfURL is this server's advertised URL.
func (b *Broker) SelfURL() string { return b.opts.AdvertiseURL }

func (b *Broker) lookup(ctx context.Context, name string) (*owner, *queue, error) {
	o, err := b.ownerOf(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	q, err := o.queue(name)
	return o, q, err
}

// Ownership is the guard of this server's current ownership of the topic
// shard (nil when it does not own it) and a channel closed at the next
// change. The topics follow that shard (pkg/topic): its owner serves them,
// and their writes carry its guard.
func (b *Broker) Ownership() (*store.Guard, <-chan struct{}) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if o := b.owners[TopicShard]; o != nil {
		return o.leader.Guard(), b.shardCh[TopicShard]
	}
	return nil, b.shardCh[TopicShard]
}
