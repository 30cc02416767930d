package function

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// A slot whose holder never gives it back (a replica killed mid-call)
// is free again at its expiry, and not before.
func TestSlotTableFreesExpiredSlots(t *testing.T) {
	tb := newSlotTable()
	t0 := time.Unix(1000, 0)
	a, ok1 := tb.take("f", "", 2, 10*time.Second, t0)
	_, ok2 := tb.take("f", "", 2, 10*time.Second, t0.Add(time.Second))
	if !ok1 || !ok2 {
		t.Fatal("the first two slots of a limit of 2 were refused")
	}
	if _, ok := tb.take("f", "", 2, 10*time.Second, t0.Add(9*time.Second)); ok {
		t.Fatal("a third slot of a limit of 2 was given while both are held")
	}
	if _, ok := tb.take("other", "", 1, time.Second, t0); !ok {
		t.Fatal("another function's slot was refused: limits are per function")
	}
	tb.give("f", a)
	c, ok := tb.take("f", "", 2, 10*time.Second, t0.Add(9*time.Second))
	if !ok {
		t.Fatal("a slot given back was not free again")
	}
	if n := tb.inUse("f", t0.Add(10*time.Second)); n != 2 {
		t.Fatalf("in use at t0+10s: %d, want 2", n)
	}
	// Nobody gives back the slot taken at t0+1s: it expires at t0+11s.
	if _, ok := tb.take("f", "", 2, 10*time.Second, t0.Add(10500*time.Millisecond)); ok {
		t.Fatal("a slot was given before the held one expired")
	}
	if _, ok := tb.take("f", "", 2, 10*time.Second, t0.Add(11*time.Second)); !ok {
		t.Fatal("the slot of a holder that never gave it back did not expire")
	}
	tb.give("f", c)
	tb.give("f", "no-such-slot") // harmless
	if _, ok := tb.take("f", "", 0, time.Second, t0); ok {
		t.Fatal("a limit of 0 gave a slot (the function must never run)")
	}
}

// replicaView is a replica's view of who owns the functions' shards.
type replicaView struct {
	self, owner string
}

func (v replicaView) GetQueue(context.Context, string) (*model.Queue, error) {
	return nil, model.ErrNotFound
}
func (v replicaView) SendMessage(context.Context, string, queue.SendEntry) (*queue.SendResult, error) {
	return nil, errors.New("no queues here")
}
func (v replicaView) OwnsQueue(string) bool                        { return v.self == v.owner }
func (v replicaView) QueueOwnerURL(context.Context, string) string { return v.owner }
func (v replicaView) SelfURL() string                              { return v.self }

// downSlots is an owner that does not answer.
type downSlots struct{}

func (downSlots) TakeSlot(context.Context, string, string, string, int, time.Duration) error {
	return errors.New("connection refused")
}

func (downSlots) GiveSlot(context.Context, string, string, string) error {
	return errors.New("connection refused")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// While the owner does not answer, a replica counts the function's slots
// itself: calls still run, and the limit holds on this replica.
func TestAcquireCountsHereWhileTheOwnerDoesNotAnswer(t *testing.T) {
	s := &Service{cfg: Config{Queues: replicaView{self: "https://b", owner: "https://a"}, Slots: downSlots{},
		ColdStartMargin: time.Second}, slots: newSlotTable(), log: discardLogger()}
	fn := testFn("f", new(2))
	var releases []func()
	for range 2 {
		release, err := s.acquire(context.Background(), fn)
		if err != nil {
			t.Fatalf("a call with the owner down: %v, want it counted here", err)
		}
		releases = append(releases, release)
	}
	_, err := s.acquire(context.Background(), fn)
	if te, ok := errors.AsType[*ThrottleError](err); !ok || te.Reason != ReasonReserved || !errors.Is(err, ErrThrottled) {
		t.Fatalf("a third call with a limit of 2: %v, want a ThrottleError with reason %s", err, ReasonReserved)
	}
	for _, r := range releases {
		r()
	}
	if n := s.SlotsInUse("f"); n != 0 {
		t.Fatalf("%d slots held after every call gave its back", n)
	}
}

// A function without reserved concurrency takes no slot anywhere (its
// warm path pays no hop), one with 0 is throttled without a hop, and a
// Hub throttle says which limit it hit.
func TestUnreservedFunctionsTakeNoSlot(t *testing.T) {
	s := &Service{cfg: Config{Queues: replicaView{self: "https://b", owner: "https://a"}, Slots: downSlots{}},
		slots: newSlotTable(), log: discardLogger()}
	release, err := s.acquire(context.Background(), testFn("free", nil))
	if err != nil {
		t.Fatal(err)
	}
	release()
	if n := s.SlotsInUse("free"); n != 0 {
		t.Fatalf("an unreserved function took %d slots", n)
	}
	if s.slotWarnedAt.Load() != 0 {
		t.Fatal("an unreserved function asked the owner for a slot")
	}
	if _, err := s.acquire(context.Background(), testFn("never", new(0))); !errors.Is(err, ErrThrottled) || s.slotWarnedAt.Load() != 0 {
		t.Fatalf("reserved concurrency 0: %v, want a throttle without asking the owner", err)
	}
	err = throttled(testFn("free", nil), ErrThrottled)
	if te, ok := errors.AsType[*ThrottleError](err); !ok || te.Reason != ReasonConcurrency {
		t.Fatalf("a hub throttle of an unreserved function: %v, want reason %s", err, ReasonConcurrency)
	}
	err = throttled(testFn("r", new(1)), ErrThrottled)
	if te, ok := errors.AsType[*ThrottleError](err); !ok || te.Reason != ReasonReserved {
		t.Fatalf("a hub throttle of a reserved function: %v, want reason %s", err, ReasonReserved)
	}
}

// ownerSlots reaches an owner's table in process; lose makes the owner
// take the slot and its answer be lost (a timeout on the way back).
type ownerSlots struct {
	owner *Service
	lose  bool
}

func (o ownerSlots) TakeSlot(_ context.Context, _, fn, id string, limit int, ttl time.Duration) error {
	if err := o.owner.TakeSlotAs(fn, id, limit, ttl); err != nil {
		return err
	}
	if o.lose {
		return errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
	}
	return nil
}

func (o ownerSlots) GiveSlot(_ context.Context, _, fn, id string) error {
	o.owner.GiveSlot(fn, id)
	return nil
}

// A take the owner granted but whose answer was lost is given back: the
// owner does not keep counting a call that runs elsewhere until the
// slot's expiry (the function's timeout: up to 15 minutes of throttles).
func TestLostTakeAnswerIsGivenBack(t *testing.T) {
	owner := &Service{slots: newSlotTable(), log: discardLogger()}
	s := &Service{cfg: Config{Queues: replicaView{self: "https://b", owner: "https://a"},
		Slots: ownerSlots{owner: owner, lose: true}, ColdStartMargin: time.Second},
		slots: newSlotTable(), log: discardLogger()}
	fn := testFn("f", new(1))
	fn.Timeout = 900 // its slot would expire in 15 minutes: not within this test
	release, err := s.acquire(context.Background(), fn)
	if err != nil {
		t.Fatalf("a call whose take answer was lost: %v, want it counted here", err)
	}
	release()
	deadline := time.Now().Add(10 * time.Second)
	for owner.SlotsInUse("f") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the owner still holds %d slots 10 s after the call whose take answer was lost", owner.SlotsInUse("f"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A give that reaches an owner after it restarted (a new, empty table)
// frees nothing there, however many slots the new table handed out; and
// the same take twice holds one slot.
func TestSlotIDsSurviveAnOwnerRestart(t *testing.T) {
	owner := &Service{slots: newSlotTable(), log: discardLogger()}
	b := &Service{cfg: Config{Queues: replicaView{self: "https://b", owner: "https://a"},
		Slots: ownerSlots{owner: owner}, ColdStartMargin: time.Second}, slots: newSlotTable(), log: discardLogger()}
	c := &Service{cfg: b.cfg, slots: newSlotTable(), log: discardLogger()}
	fn := testFn("f", new(1))
	releaseB, err := b.acquire(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	owner.slots = newSlotTable() // the owner restarts: its table is empty
	releaseC, err := c.acquire(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	releaseB() // b's call ends: its give reaches the new table
	if n := owner.SlotsInUse("f"); n != 1 {
		t.Fatalf("after a give from before the restart the owner holds %d slots, want 1 (c's call still runs)", n)
	}
	if _, err := b.acquire(context.Background(), fn); !errors.Is(err, ErrThrottled) {
		t.Fatalf("a second call while c's runs with a limit of 1: %v, want a throttle", err)
	}
	releaseC()
	id := NewSlotID()
	for range 2 {
		if err := owner.TakeSlotAs("g", id, 2, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := owner.SlotsInUse("g"); n != 1 {
		t.Fatalf("the same take sent twice holds %d slots, want 1", n)
	}
	if err := owner.TakeSlotAs("g", "7", 2, time.Minute); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("a remote take naming a short id (one the owner's counter uses): %v, want ErrInvalid", err)
	}
}

// A call that panics (the HTTP server recovers it and the process lives
// on) gives its slot back: the function is not throttled until the
// slot's expiry. (No hub here: the call panics on it.)
func TestPanickingCallGivesItsSlotBack(t *testing.T) {
	s := &Service{slots: newSlotTable(), log: discardLogger(), logs: newLogRing(), meter: newMeter()}
	fn := testFn("f", new(1))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a call without a hub did not panic: this test no longer tests the panic path")
			}
		}()
		_, _ = s.call(context.Background(), fn, NewRequestID(), nil, false)
	}()
	if n := s.SlotsInUse("f"); n != 0 {
		t.Fatalf("a call that panicked still holds %d slots", n)
	}
}

// countingSlots is an owner that never answers in time, counting takes.
type countingSlots struct{ takes *atomic.Int64 }

func (c countingSlots) TakeSlot(context.Context, string, string, string, int, time.Duration) error {
	c.takes.Add(1)
	return errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
}

func (c countingSlots) GiveSlot(context.Context, string, string, string) error {
	return errors.New("context deadline exceeded")
}

// While the owner does not answer, calls do not each wait for the slot
// client's timeout: after one failed take the replica counts here for a
// while without asking the owner.
func TestAcquireStopsAskingAnOwnerThatFailed(t *testing.T) {
	var takes atomic.Int64
	s := &Service{cfg: Config{Queues: replicaView{self: "https://b", owner: "https://a"}, Slots: countingSlots{&takes},
		ColdStartMargin: time.Second}, slots: newSlotTable(), log: discardLogger()}
	fn := testFn("f", new(10))
	for range 5 {
		release, err := s.acquire(context.Background(), fn)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if n := takes.Load(); n != 1 {
		t.Fatalf("5 calls in a row asked the unanswering owner %d times, want once", n)
	}
}
