package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// ElectionName is the etcd election whose holder owns every queue.
const ElectionName = "queues"

// Options configure a Service.
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
	// at once (default 2).
	CommitPipelines int
	// MaxInflight is the in-flight message limit per queue (default 120,000).
	MaxInflight int
	Logger      *slog.Logger
}

// Service is Orch's queue service: SQS semantics over messages stored in
// etcd. One replica at a time owns all queues (it holds the "queues"
// election) and keeps their receive state in memory; others answer
// ErrNotOwner and the HTTP layer forwards to OwnerURL.
type Service struct {
	st   *store.Store
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	own     *owner
	ownerCh chan struct{} // closed and replaced whenever own changes

	urlMu    sync.Mutex
	ownerURL string
	urlAt    time.Time
}

// owner is the state of a Service while it owns the queues.
type owner struct {
	svc    *Service
	ctx    context.Context
	cancel context.CancelFunc
	com    *committer
	leader *store.Leader

	mu        sync.RWMutex
	queues    map[string]*queue
	deletedAt map[string]time.Time
	moveSeq   int
}

// New returns a Service; call Run to take part in owning the queues.
func New(st *store.Store, opts Options) *Service {
	if opts.Region == "" {
		opts.Region = model.DefaultRegion
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10
	}
	if opts.CommitPipelines <= 0 {
		opts.CommitPipelines = 8
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 120000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{st: st, opts: opts, log: opts.Logger.With("component", "queue"), ownerCh: make(chan struct{})}
}

// Region is the region in ARNs.
func (s *Service) Region() string { return s.opts.Region }

// Run campaigns for ownership of the queues, serves them while it holds it,
// and campaigns again when it loses it, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	id := s.opts.AdvertiseURL
	if id == "" {
		id = "local-" + randHex(8)
	}
	for ctx.Err() == nil {
		l, err := s.st.Campaign(ctx, ElectionName, id, s.opts.LeaseTTL)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("queue ownership campaign failed; retrying", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		o, err := s.takeOver(ctx, l)
		if err != nil {
			s.log.Error("loading queues failed; giving up ownership", "err", err)
			_ = l.Resign(context.Background())
			sleepCtx(ctx, time.Second)
			continue
		}
		select {
		case <-l.Done():
			s.log.Warn("lost ownership of the queues (etcd session ended)")
		case <-o.ctx.Done():
		case <-ctx.Done():
		}
		s.setOwner(nil)
		o.stop()
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.Resign(rctx)
		cancel()
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *Service) setOwner(o *owner) {
	s.mu.Lock()
	s.own = o
	close(s.ownerCh)
	s.ownerCh = make(chan struct{})
	s.mu.Unlock()
}

// takeOver loads every queue and its messages from etcd.
func (s *Service) takeOver(ctx context.Context, l *store.Leader) (*owner, error) {
	octx, cancel := context.WithCancel(ctx)
	o := &owner{svc: s, ctx: octx, cancel: cancel, leader: l, queues: map[string]*queue{}, deletedAt: map[string]time.Time{}}
	o.com = newCommitter(s.st, l.Guard(), cancel)
	metas, err := s.st.ListQueues(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	now := time.Now()
	for _, meta := range metas {
		q := newQueue(meta, s.opts.Region)
		var recs []*model.QueueMessage
		if err := s.st.LoadQueueMessages(ctx, meta.ID, func(m *model.QueueMessage) { recs = append(recs, m) }); err != nil {
			cancel()
			return nil, err
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
		q.mu.Lock()
		for _, m := range recs {
			q.insert(m, now.UnixNano())
		}
		if q.fifo {
			ds, err := s.st.LoadQueueDedup(ctx, meta.ID)
			if err != nil {
				q.mu.Unlock()
				cancel()
				return nil, err
			}
			for _, d := range ds {
				if d.ExpiresMs > now.UnixMilli() {
					q.dedup[d.Key] = dedupEntry{msgID: d.MessageID, expires: d.ExpiresMs}
				}
			}
		}
		q.mu.Unlock()
		o.queues[meta.Name] = q
	}
	o.com.run(octx, s.opts.CommitPipelines)
	go o.sweep()
	s.log.Info("this server owns the queues", "queues", len(o.queues))
	s.setOwner(o)
	return o, nil
}

func (o *owner) stop() {
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range o.queues {
		q.mu.Lock()
		q.stop()
		q.mu.Unlock()
	}
}

// owner returns this server's owner state, waiting briefly while ownership
// is being taken (at start-up); ErrNotOwner when another replica owns the
// queues.
func (s *Service) owner(ctx context.Context) (*owner, error) {
	s.mu.RLock()
	o, ch := s.own, s.ownerCh
	s.mu.RUnlock()
	if o != nil {
		return o, nil
	}
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	for {
		if u, _ := s.OwnerURL(ctx); u != "" && u != s.opts.AdvertiseURL {
			return nil, ErrNotOwner
		}
		select {
		case <-ch:
			s.mu.RLock()
			o, ch = s.own, s.ownerCh
			s.mu.RUnlock()
			if o != nil {
				return o, nil
			}
		case <-deadline.C:
			return nil, ErrServiceUnavailable
		case <-ctx.Done():
			return nil, ErrServiceUnavailable
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Owned reports whether this server owns the queues now.
func (s *Service) Owned() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.own != nil
}

// OwnerURL is the advertised URL of the replica owning the queues ("" when
// unknown or it has none), cached for a second.
func (s *Service) OwnerURL(ctx context.Context) (string, error) {
	s.urlMu.Lock()
	defer s.urlMu.Unlock()
	if time.Since(s.urlAt) < time.Second {
		return s.ownerURL, nil
	}
	id, err := s.st.LeaderID(ctx, ElectionName)
	if err != nil {
		return "", err
	}
	if len(id) > 6 && id[:6] == "local-" {
		id = ""
	}
	s.ownerURL, s.urlAt = id, time.Now()
	return id, nil
}

// SelfURL is this server's advertised URL.
func (s *Service) SelfURL() string { return s.opts.AdvertiseURL }

func (o *owner) queue(name string) (*queue, error) {
	o.mu.RLock()
	q := o.queues[name]
	o.mu.RUnlock()
	if q == nil {
		return nil, ErrQueueDoesNotExist
	}
	return q, nil
}

// sweep deletes messages past their retention period and expired FIFO
// deduplication records.
func (o *owner) sweep() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-t.C:
		}
		o.mu.RLock()
		qs := make([]*queue, 0, len(o.queues))
		for _, q := range o.queues {
			qs = append(qs, q)
		}
		var old []string
		for n, at := range o.deletedAt {
			if time.Since(at) > time.Minute {
				old = append(old, n)
			}
		}
		o.mu.RUnlock()
		if len(old) > 0 {
			o.mu.Lock()
			for _, n := range old {
				delete(o.deletedAt, n)
			}
			o.mu.Unlock()
		}
		for _, q := range qs {
			o.sweepQueue(q)
		}
	}
}

func (o *owner) sweepQueue(q *queue) {
	nowMs := time.Now().UnixMilli()
	var ops []store.QueueOp
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return
	}
	for _, m := range q.msgs {
		if m.state != stInflight && q.expired(m, nowMs) {
			q.remove(m)
			ops = append(ops, store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: q.meta.ID, ID: m.MessageID})
		}
	}
	for k, d := range q.dedup {
		if d.expires <= nowMs {
			delete(q.dedup, k)
			ops = append(ops, store.QueueOp{Kind: store.QueueDeleteDedup, QueueID: q.meta.ID, ID: k})
		}
	}
	qid := q.meta.ID
	q.mu.Unlock()
	o.commitChunks(qid, ops)
}

// commitChunks commits ops in transactions of a bounded size, logging
// failures (used for clean-up writes nobody waits for).
func (o *owner) commitChunks(qid string, ops []store.QueueOp) {
	for len(ops) > 0 {
		n := min(len(ops), o.com.maxOps)
		if err := o.com.commit(o.ctx, ops[:n]...); err != nil {
			o.svc.log.Warn("queue clean-up write failed", "queue", qid, "err", err)
			return
		}
		ops = ops[n:]
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newMessageID returns a random UUID (version 4), the form SQS message ids take.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// errIs is errors.Is, shortened for the many SQS error checks.
func errIs(err, target error) bool { return errors.Is(err, target) }

var _ = fmt.Sprintf
