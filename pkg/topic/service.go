package topic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// Ownership is whose turn it is to serve the topics. Topics follow the
// queues' owner (pkg/queue's Broker is one): the replica owning the queues
// delivers to them in-process, and its topic writes carry the same guard.
type Ownership interface {
	// Ownership returns the guard of this replica's current ownership
	// (nil when it does not own) and a channel closed at the next change.
	Ownership() (*store.Guard, <-chan struct{})
	// OwnerURL is the owning replica's advertised URL ("" when unknown).
	OwnerURL(ctx context.Context) (string, error)
	// SelfURL is this replica's advertised URL.
	SelfURL() string
}

// Sender is the narrow door to the queues that queue subscriptions are
// delivered through (pkg/queue's Broker is one).
type Sender interface {
	SendMessage(ctx context.Context, queueName string, e queue.SendEntry) (*queue.SendResult, error)
	// SendEachEarly sends each entry to its queue, receivable at once,
	// in one durable commit per owner of the queues that it does not
	// wait for; wait returns when those ended, errs[i] being entry i's
	// error (nil: all sent). The caller keeps its own durable copy until
	// then (queue.Broker.SendEachEarly).
	SendEachEarly(ctx context.Context, es []queue.QueueEntry) (wait func() (errs []error))
}

// Options configure a Service.
type Options struct {
	// Region appears in ARNs; default model.DefaultRegion.
	Region string
	// Ownership says when this replica serves the topics (required).
	Ownership Ownership
	// Queues delivers to sqs subscriptions and dead-letter queues (required).
	Queues Sender
	// Functions delivers to lambda subscriptions; nil until the functions
	// feature exists: such subscriptions are stored and receive nothing.
	Functions FunctionInvoker
	// BaseURL is where subscribers reach this cluster's endpoint
	// ("http://10.0.0.5:7474"), for the UnsubscribeURL in envelopes.
	BaseURL string
	// SMTP is the relay for email and email-json subscriptions; nil:
	// such subscriptions are stored and receive nothing.
	SMTP *SMTP
	// CommitPipelines is how many batched etcd commits may be under way
	// at once (default 8).
	CommitPipelines int
	// Clock measures retry delays and deduplication windows; default the
	// system clock.
	Clock  queue.Clock
	Logger *slog.Logger
}

// Service is Orch's topic service: SNS semantics over topics,
// subscriptions and pending deliveries stored in etcd.
type Service struct {
	st    *store.Store
	opts  Options
	log   *slog.Logger
	clock queue.Clock
	dels  map[string]Deliverer
	http  *httpDeliverer
	sig   signerState

	mu  sync.RWMutex
	own *owner
}

// New returns a Service; call Run to serve while this replica owns the queues.
func New(st *store.Store, opts Options) *Service {
	if opts.Region == "" {
		opts.Region = model.DefaultRegion
	}
	if opts.CommitPipelines <= 0 {
		opts.CommitPipelines = 8
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{st: st, opts: opts, clock: opts.Clock, log: opts.Logger.With("component", "topic")}
	s.http = newHTTPDeliverer()
	s.dels = map[string]Deliverer{
		model.ProtocolSQS:    queueDeliverer{opts.Queues},
		model.ProtocolLambda: lambdaDeliverer{f: opts.Functions, baseURL: opts.BaseURL},
		model.ProtocolHTTP:   s.http,
		model.ProtocolHTTPS:  s.http,
	}
	if opts.SMTP != nil && opts.SMTP.Relay != "" {
		d := &emailDeliverer{cfg: *opts.SMTP, baseURL: opts.BaseURL}
		s.dels[model.ProtocolEmail], s.dels[model.ProtocolEmailJSON] = d, d
	}
	return s
}

// Region is the region in ARNs.
func (s *Service) Region() string { return s.opts.Region }

// Owned reports whether this replica serves the topics now.
func (s *Service) Owned() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.own != nil
}

// OwnerURL is the advertised URL of the replica serving the topics.
func (s *Service) OwnerURL(ctx context.Context) (string, error) {
	return s.opts.Ownership.OwnerURL(ctx)
}

// SelfURL is this replica's advertised URL.
func (s *Service) SelfURL() string { return s.opts.Ownership.SelfURL() }

// Run serves the topics whenever this replica owns the queues, until ctx
// ends: it loads topics, subscriptions and pending deliveries on taking
// over and resumes the deliveries. When Run returns, every goroutine the
// service started has ended.
func (s *Service) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		guard, changed := s.opts.Ownership.Ownership()
		if guard == nil {
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		o, err := s.takeOver(ctx, guard)
		if err != nil {
			s.log.Error("loading topics failed; retrying", "err", err)
			select {
			case <-changed:
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
		s.mu.Lock()
		s.own = nil
		s.mu.Unlock()
		o.stop()
	}
	return nil
}

// owner returns the owned state, waiting up to 3 s while ownership is
// being taken; ErrNotOwner when another replica serves the topics.
func (s *Service) owner(ctx context.Context) (*owner, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		s.mu.RLock()
		o := s.own
		s.mu.RUnlock()
		if o != nil {
			return o, nil
		}
		if u, _ := s.opts.Ownership.OwnerURL(ctx); u != "" && u != s.opts.Ownership.SelfURL() {
			return nil, ErrNotOwner
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, ErrUnavailable
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// owner is the Service's state while this replica serves the topics. It
// owns every goroutine started on the topics' behalf: stop waits for them.
type owner struct {
	s      *Service
	ctx    context.Context
	cancel context.CancelFunc
	guard  *store.Guard
	com    *committer

	bgMu     sync.Mutex
	stopping bool
	wg       sync.WaitGroup
	retries  map[*delivery]queue.Timer // deliveries waiting for their next attempt (under bgMu)

	mu     sync.RWMutex
	topics map[string]*topicState // by name
	subs   map[string]*subState   // by subscription id
}

func (s *Service) takeOver(ctx context.Context, guard *store.Guard) (*owner, error) {
	octx, cancel := context.WithCancel(ctx)
	o := &owner{s: s, ctx: octx, cancel: cancel, guard: guard, topics: map[string]*topicState{}, subs: map[string]*subState{},
		retries: map[*delivery]queue.Timer{}}
	ts, err := s.st.ListTopics(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	for _, t := range ts {
		o.topics[t.Name] = newTopicState(t, s.opts.Region)
	}
	// Load (or create) the signing key before any delivery needs it,
	// afresh: another replica may have rotated it.
	if err := s.refreshKeys(ctx); err != nil {
		s.log.Warn("no SNS signing key yet; messages go out unsigned until it loads", "err", err)
	}
	subs, err := s.st.ListSubscriptions(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	for _, sub := range subs {
		t := o.topics[sub.TopicName]
		if t == nil || t.t.ID != sub.TopicID {
			continue // left behind by a topic deleted mid-way
		}
		ss, err := o.newSubState(t, sub)
		if err != nil {
			s.log.Warn("subscription has an unusable attribute; it receives nothing until fixed", "subscription", sub.ID, "err", err)
			ss = &subState{sub: sub, topic: t, broken: err.Error()}
		}
		t.subs = append(t.subs, ss)
		o.subs[sub.ID] = ss
	}
	o.com = newCommitter(s.st, guard, cancel)
	o.com.start(octx, s.opts.CommitPipelines)
	// Resume what was published but not yet delivered everywhere.
	resumed := 0
	for _, t := range o.topics {
		recs, err := s.st.LoadTopicMessages(ctx, t.t.ID)
		if err != nil {
			o.stop()
			return nil, err
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
		for _, rec := range recs {
			t.seq = max(t.seq, rec.Seq)
			if rec.DeduplicationID != "" {
				t.dedup[rec.DeduplicationID] = dedupEntry{msgID: rec.ID, seq: rec.Seq, expires: time.UnixMilli(rec.PublishMs).Add(dedupWindow)}
			}
			var subs []*subState
			for _, id := range rec.Pending {
				if ss := o.subs[id]; ss != nil {
					subs = append(subs, ss)
				}
			}
			o.dispatch(t, rec, subs)
			resumed++
		}
	}
	confirmations := o.resumeConfirmations()
	s.log.Info("this server serves the topics", "topics", len(o.topics), "resumedMessages", resumed, "resentConfirmations", confirmations)
	s.mu.Lock()
	s.own = o
	s.mu.Unlock()
	return o, nil
}

// goBackground runs f on a goroutine stop waits for; false once stopping.
func (o *owner) goBackground(f func()) bool {
	o.bgMu.Lock()
	defer o.bgMu.Unlock()
	if o.stopping {
		return false
	}
	o.wg.Go(f)
	return true
}

func (o *owner) stop() {
	o.bgMu.Lock()
	o.stopping = true
	o.stopRetries()
	o.bgMu.Unlock()
	o.cancel()
	o.com.stop()
	o.wg.Wait()
	o.s.http.client.CloseIdleConnections()
}

func (o *owner) topic(name string) (*topicState, error) {
	o.mu.RLock()
	t := o.topics[name]
	o.mu.RUnlock()
	if t == nil {
		return nil, ErrTopicNotFound
	}
	return t, nil
}

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) queue.Timer { return time.AfterFunc(d, f) }
