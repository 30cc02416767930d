package function

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// Reserved concurrency across server replicas.
//
// A function with ReservedConcurrentExecutions has one count of its
// invocations in flight in the whole cluster: a slot table kept by the
// replica owning the queue shard the function's name hashes to (the same
// replica that delivers its Event invocations, see Owner). A call routed
// by that replica takes a slot in process; a call routed by another
// replica first takes one from the owner (one HTTP round trip, through
// RemoteSlots) and gives it back when the call ends. Functions without
// reserved concurrency and single servers (which own every shard) never
// pay a hop: their warm path is unchanged.
//
// Every slot carries an expiry: the call's own bound (the function's
// timeout plus the cold-start margin) and slotSlack. A replica that dies
// holding slots (SIGKILL) cannot give them back; they expire then, which
// is also when the invocations it started could at the latest still be
// running on their agents.
//
// When the owner dies its table dies with it; the replica that takes the
// shard over starts with an empty one. Until the invocations counted by
// the old owner have ended, a function may then run up to twice its limit
// (the old owner's slots plus the new table's). While no owner is known
// or the owner does not answer, a replica counts the function's slots in
// its own table (as the owner would), so the limit then holds per replica;
// after a failed take it asks that owner again only slotOwnerRetry later.

// slotSlack is added to a call's own bound for its slot's expiry (the
// time a give-back may take to arrive).
const slotSlack = 5 * time.Second

// slotOwnerRetry is how long a replica counts a function's slots itself
// after its owner failed a take, before asking the owner again.
const slotOwnerRetry = 5 * time.Second

// maxSlotTTL bounds the expiry a replica may ask for: the longest
// function timeout (900 s), a generous cold-start margin and the slack.
const maxSlotTTL = 900*time.Second + 5*time.Minute

// Lambda's reasons for a TooManyRequestsException.
const (
	// ReasonReserved: the function runs as many invocations as its
	// ReservedConcurrentExecutions.
	ReasonReserved = "ReservedFunctionConcurrentInvocationLimitExceeded"
	// ReasonConcurrency: the function runs DefaultConcurrencyLimit
	// invocations (Lambda's account limit).
	ReasonConcurrency = "ConcurrentInvocationLimitExceeded"
)

// ThrottleError is a throttled invocation with Lambda's reason for it;
// errors.Is(err, ErrThrottled) holds.
type ThrottleError struct {
	Reason  string
	Message string
}

func (e *ThrottleError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottleError) Is(target error) bool { return target == ErrThrottled }

// throttled returns err (a throttle) as a *ThrottleError with the reason
// fn's configuration gives it.
func throttled(fn *model.StoredFunction, err error) error {
	if _, ok := errors.AsType[*ThrottleError](err); ok {
		return err
	}
	reason := ReasonConcurrency
	if fn.ReservedConcurrentExecutions != nil {
		reason = ReasonReserved
	}
	return &ThrottleError{Reason: reason, Message: err.Error()}
}

// SlotOwners names the replica counting a function's slots: the owner of
// the queue shard its name falls in (pkg/queue's Broker is one).
type SlotOwners interface {
	// QueueOwnerURL is the advertised URL of the replica owning queue
	// (here: function) name; "" when unknown or none.
	QueueOwnerURL(ctx context.Context, name string) string
	// SelfURL is this replica's advertised URL ("" for a single server).
	SelfURL() string
}

// RemoteSlots takes and gives back slots at another replica (pkg/api/
// lambda's SlotClient, over HTTPS).
//
// The caller names the slot (NewSlotID), not the owner: a take whose
// answer is lost (a timeout after the owner took it) can still be given
// back, a take sent twice holds one slot, and a give that arrives after
// the owner restarted cannot free a slot of the new table that happens to
// bear the same number.
type RemoteSlots interface {
	// TakeSlot takes one of fn's limit slots, named id, at ownerURL for
	// at most ttl; a *ThrottleError when all are taken. Taking an id
	// already held holds it still (one slot).
	TakeSlot(ctx context.Context, ownerURL, fn, id string, limit int, ttl time.Duration) error
	// GiveSlot gives slot id of fn back at ownerURL.
	GiveSlot(ctx context.Context, ownerURL, fn, id string) error
}

// slotTable counts slots by function; each slot expires at its time.
type slotTable struct {
	mu   sync.Mutex
	seq  uint64
	held map[string]map[string]time.Time // function -> slot id -> expiry
}

func newSlotTable() *slotTable { return &slotTable{held: map[string]map[string]time.Time{}} }

// MinRemoteSlotID is the shortest slot id another replica may name: the
// owner's own ids (a counter, base 36) stay far shorter, so the two never
// meet.
const MinRemoteSlotID = 16

// NewSlotID names a slot taken at another replica (26 random characters).
func NewSlotID() string { return rand.Text() }

// take takes one of fn's limit slots until now+ttl, or reports that all
// limit are held (expired ones are freed first). id "" names the slot
// from the table's counter; another id, already held, is held still.
func (t *slotTable) take(fn, id string, limit int, ttl time.Duration, now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	held := t.held[fn]
	if _, ok := held[id]; ok && id != "" {
		held[id] = now.Add(ttl) // the same take again (a retry): one slot
		return id, true
	}
	if len(held) >= limit {
		for id, exp := range held {
			if !now.Before(exp) {
				delete(held, id)
			}
		}
		if len(held) >= limit {
			return "", false
		}
	}
	if held == nil {
		held = map[string]time.Time{}
		t.held[fn] = held
	}
	if id == "" {
		t.seq++
		id = strconv.FormatUint(t.seq, 36)
	}
	held[id] = now.Add(ttl)
	return id, true
}

// give frees slot id of fn (nothing when it expired or is unknown).
func (t *slotTable) give(fn, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	held := t.held[fn]
	delete(held, id)
	if len(held) == 0 {
		delete(t.held, fn)
	}
}

// inUse is how many of fn's slots are held and not expired at now.
func (t *slotTable) inUse(fn string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, exp := range t.held[fn] {
		if now.Before(exp) {
			n++
		}
	}
	return n
}

// slotTTL is how long a call of fn may hold its slot.
func (s *Service) slotTTL(fn *model.StoredFunction) time.Duration {
	return time.Duration(fn.Timeout)*time.Second + s.cfg.ColdStartMargin + slotSlack
}

// TakeSlot takes one of fn's limit slots in this replica's table for at
// most ttl and names it; a *ThrottleError when the function runs limit
// invocations.
func (s *Service) TakeSlot(fn string, limit int, ttl time.Duration) (string, error) {
	return s.takeSlot(fn, "", limit, ttl)
}

// TakeSlotAs takes slot id (NewSlotID, at least MinRemoteSlotID long) of
// fn for another replica, this one owning fn's shard; taking it again
// holds it still. A *ThrottleError when the function runs limit
// invocations.
func (s *Service) TakeSlotAs(fn, id string, limit int, ttl time.Duration) error {
	if len(id) < MinRemoteSlotID {
		return fmt.Errorf("%w: slot id %q: at least %d characters (NewSlotID)", model.ErrInvalid, id, MinRemoteSlotID)
	}
	_, err := s.takeSlot(fn, id, limit, ttl)
	return err
}

func (s *Service) takeSlot(fn, id string, limit int, ttl time.Duration) (string, error) {
	ttl = min(max(ttl, time.Second), maxSlotTTL)
	id, ok := s.slots.take(fn, id, limit, ttl, time.Now())
	if !ok {
		return "", &ThrottleError{Reason: ReasonReserved,
			Message: fmt.Sprintf("%v: function %s runs %d invocations, its ReservedConcurrentExecutions", ErrThrottled, fn, limit)}
	}
	return id, nil
}

// GiveSlot gives back a slot TakeSlot took.
func (s *Service) GiveSlot(fn, id string) { s.slots.give(fn, id) }

// SlotsInUse is how many of fn's slots this replica's table holds now
// (the cluster's count on fn's owner).
func (s *Service) SlotsInUse(fn string) int { return s.slots.inUse(fn, time.Now()) }

// acquire takes a slot for one call of fn from the replica counting fn's
// reserved concurrency, and returns what gives it back. Functions without
// reserved concurrency take none (the Hub caps them per replica).
func (s *Service) acquire(ctx context.Context, fn *model.StoredFunction) (func(), error) {
	if fn.ReservedConcurrentExecutions == nil {
		return func() {}, nil
	}
	name, limit, ttl := fn.FunctionName, *fn.ReservedConcurrentExecutions, s.slotTTL(fn)
	local := func() (func(), error) {
		id, err := s.TakeSlot(name, limit, ttl)
		if err != nil {
			return nil, err
		}
		return func() { s.GiveSlot(name, id) }, nil
	}
	owners, ok := s.cfg.Queues.(SlotOwners)
	if s.cfg.Slots == nil || !ok || limit <= 0 || s.owns(name) {
		// (A limit of 0, "never run", needs no count: no hop for it.)
		return local()
	}
	url := owners.QueueOwnerURL(ctx, name)
	if url == "" || url == owners.SelfURL() {
		return local() // between owners: count here meanwhile
	}
	if until, ok := s.slotOwnerDown.Load(url); ok && time.Now().UnixNano() < until.(int64) {
		// The owner failed a take a moment ago: do not make every call
		// wait for the client's timeout (2 s) while it is unreachable.
		return local()
	}
	id := NewSlotID()
	give := func() {
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := s.cfg.Slots.GiveSlot(gctx, url, name, id); err != nil {
			s.warnSlots(url, err) // the slot expires at its ttl
		}
	}
	err := s.cfg.Slots.TakeSlot(ctx, url, name, id, limit, ttl)
	if errors.Is(err, ErrThrottled) {
		return nil, err
	}
	if err != nil {
		// The owner may have taken the slot and its answer been lost
		// (a timeout, a cancel): give it back, off the call's path, or it
		// stays held until its expiry (up to the function's timeout).
		go give()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.slotOwnerDown.Store(url, time.Now().Add(slotOwnerRetry).UnixNano())
		s.warnSlots(url, err)
		return local()
	}
	return give, nil
}

// warnSlots logs that the owner did not answer, at most every 10 s (each
// call would otherwise log it).
func (s *Service) warnSlots(url string, err error) {
	now := time.Now().UnixNano()
	last := s.slotWarnedAt.Load()
	if now-last < int64(10*time.Second) || !s.slotWarnedAt.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("the replica counting a function's reserved concurrency did not answer; counting on this replica meanwhile",
		"owner", url, "err", err)
}
