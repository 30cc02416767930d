package queue

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// ElectionName is the etcd election whose holder owns every queue.
const ElectionName = "queues"

// Options configure a Broker.
type Options struct {
	// Region appears in queue ARNs; default model.DefaultRegion.
	Region string
	// AdvertiseURL is where other replicas reach this server's HTTP
	// endpoint ("http://10.0.0.5:7070"); it is the value this server puts
	// in the queue election, so replicas that do not own the queues can
	// forward requests to the one that does. Empty: single server.
	AdvertiseURL string
	// LeaseTTL is the ownership lease in seconds (default 10): after a
	// crash, another replica takes the queues over within about this long.
	LeaseTTL int
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
}

// Broker is Orch's queue broker: SQS semantics over messages stored in
// etcd. One replica at a time owns all queues (it holds the "queues"
// election) and keeps their receive state in memory; the others answer
// ErrNotOwner and the HTTP layer forwards to OwnerURL.
type Broker struct {
	st    *store.Store
	opts  Options
	log   *slog.Logger
	clock Clock

	mu      sync.RWMutex
	own     *owner
	ownerCh chan struct{} // closed and replaced whenever own changes

	sends  sendListeners
	follow func(queue string) bool // queues whose backlog is published (PublishBacklogs)

	urlMu    sync.Mutex
	ownerURL string
	urlAt    time.Time
}

// New returns a Broker; call Run to take part in owning the queues.
func New(st *store.Store, opts Options) *Broker {
	if opts.Region == "" {
		opts.Region = model.DefaultRegion
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10
	}
	if opts.CommitPipelines <= 0 {
		opts.CommitPipelines = 1
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 120000
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
	return &Broker{st: st, opts: opts, clock: opts.Clock, log: opts.Logger.With("component", "queue"), ownerCh: make(chan struct{})}
}

// Region is the region in ARNs.
func (b *Broker) Region() string { return b.opts.Region }

// Run campaigns for ownership of the queues, serves them while it holds it,
// and campaigns again when it loses it, until ctx ends. When Run returns,
// every goroutine the broker started has ended.
func (b *Broker) Run(ctx context.Context) error {
	id := b.opts.AdvertiseURL
	if id == "" {
		id = "local-" + randHex(8)
	}
	for ctx.Err() == nil {
		l, err := b.st.Campaign(ctx, ElectionName, id, b.opts.LeaseTTL)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			b.log.Warn("queue ownership campaign failed; retrying", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		o, err := b.takeOver(ctx, l)
		if err != nil {
			b.log.Error("loading queues failed; giving up ownership", "err", err)
			_ = l.Resign(context.Background())
			sleepCtx(ctx, time.Second)
			continue
		}
		select {
		case <-l.Done():
			b.log.Warn("lost ownership of the queues (etcd session ended)")
		case <-o.ctx.Done():
		case <-ctx.Done():
		}
		b.setOwner(nil)
		o.stop()
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.Resign(rctx)
		cancel()
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

func (b *Broker) setOwner(o *owner) {
	b.mu.Lock()
	b.own = o
	close(b.ownerCh)
	b.ownerCh = make(chan struct{})
	b.mu.Unlock()
}

// owner returns this server's owner state, waiting briefly while ownership
// is being taken (at start-up); ErrNotOwner when another replica owns the
// queues.
func (b *Broker) owner(ctx context.Context) (*owner, error) {
	b.mu.RLock()
	o, ch := b.own, b.ownerCh
	b.mu.RUnlock()
	if o != nil {
		return o, nil
	}
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for {
		if u, _ := b.OwnerURL(ctx); u != "" && u != b.opts.AdvertiseURL {
			return nil, ErrNotOwner
		}
		select {
		case <-ch:
			b.mu.RLock()
			o, ch = b.own, b.ownerCh
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

// Owned reports whether this server owns the queues now.
func (b *Broker) Owned() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.own != nil
}

// OwnerURL is the advertised URL of the replica owning the queues ("" when
// unknown or it has none), cached for a second.
func (b *Broker) OwnerURL(ctx context.Context) (string, error) {
	b.urlMu.Lock()
	defer b.urlMu.Unlock()
	if time.Since(b.urlAt) < time.Second {
		return b.ownerURL, nil
	}
	id, err := b.st.LeaderID(ctx, ElectionName)
	if err != nil {
		return "", err
	}
	if len(id) > 6 && id[:6] == "local-" {
		id = ""
	}
	b.ownerURL, b.urlAt = id, time.Now()
	return id, nil
}

// SelfURL is this server's advertised URL.
func (b *Broker) SelfURL() string { return b.opts.AdvertiseURL }

func (b *Broker) lookup(ctx context.Context, name string) (*owner, *queue, error) {
	o, err := b.owner(ctx)
	if err != nil {
		return nil, nil, err
	}
	q, err := o.queue(name)
	return o, q, err
}

// Ownership is the guard of this server's current ownership of the queues
// (nil when it does not own them) and a channel closed at the next change.
// Topic deliveries follow queue ownership with it (pkg/topic), so the
// replica that owns the queues delivers to them locally, and their writes
// carry the same guard.
func (b *Broker) Ownership() (*store.Guard, <-chan struct{}) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.own == nil {
		return nil, b.ownerCh
	}
	return b.own.leader.Guard(), b.ownerCh
}
