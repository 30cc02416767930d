package lambda

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// replicaView is one replica's view of who owns the functions' shards.
type replicaView struct{ self, owner string }

func (v replicaView) GetQueue(context.Context, string) (*model.Queue, error) {
	return nil, model.ErrNotFound
}
func (v replicaView) SendMessage(context.Context, string, queue.SendEntry) (*queue.SendResult, error) {
	return nil, errors.New("no queues in this test")
}
func (v replicaView) OwnsQueue(string) bool                        { return v.self == v.owner }
func (v replicaView) QueueOwnerURL(context.Context, string) string { return v.owner }
func (v replicaView) SelfURL() string                              { return v.self }

// running counts the invocations the fake agents of every replica run at
// once, and the most ever seen.
type running struct {
	now, max atomic.Int64
}

// attachSlowAgent answers each invocation after hold, counting it in r
// while it runs.
func attachSlowAgent(ctx context.Context, svc *function.Service, node string, hold time.Duration, r *running) {
	c := svc.Hub().Attach(node)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case req := <-c.Requests():
				if req.Deleted != "" {
					continue
				}
				go func() {
					n := r.now.Add(1)
					for m := r.max.Load(); n > m && !r.max.CompareAndSwap(m, n); m = r.max.Load() {
					}
					time.Sleep(hold)
					r.now.Add(-1)
					svc.Hub().Complete(node, req.ID, function.Result{Payload: []byte(`null`)})
				}()
			}
		}
	}()
}

// Two replicas sharing one etcd, each with its own agent, take calls of
// a function with ReservedConcurrentExecutions 3 at once. With the slot
// hand-over (replica b takes its slots from a, which owns the function's
// shard, over the real slot endpoints) never more than 3 run; without it
// (the negative control: b counts on its own, as before) 6 do, so the
// measurement would catch a limit counted per replica.
func TestReservedConcurrencyHoldsAcrossReplicas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handover bool
	}{{"hand-over", true}, {"negative control: counted per replica", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			key := []byte("0123456789abcdef0123456789abcdef")

			// Replica a owns the function's shard and serves the slot
			// endpoints; b takes its slots there.
			var handler *SlotHandler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
			defer srv.Close()
			a := function.New(function.Config{Store: st, Logger: log, Queues: replicaView{self: srv.URL, owner: srv.URL}})
			handler = NewSlotHandler(a)
			handler.SetReplicaKey(key)
			var slots function.RemoteSlots
			if tc.handover {
				c := NewSlotClient()
				c.SetReplicaKey(key)
				slots = c
			}
			b := function.New(function.Config{Store: st, Logger: log, Queues: replicaView{self: "http://b.invalid", owner: srv.URL}, Slots: slots})

			const limit = 3
			if _, err := a.Create(ctx, model.Function{FunctionName: "limited", Code: model.FunctionCode{ImageUri: "img"}, Timeout: 5,
				ReservedConcurrentExecutions: new(limit)}); err != nil {
				t.Fatal(err)
			}
			// Each call runs 2 s: every call arrives while the first ones
			// still run, even on a loaded machine.
			var r running
			attachSlowAgent(ctx, a, "agent-a", 2*time.Second, &r)
			attachSlowAgent(ctx, b, "agent-b", 2*time.Second, &r)

			var ok, throttled, other atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 32 {
				svc := a
				if i%2 == 1 {
					svc = b
				}
				wg.Go(func() {
					<-start
					_, err := svc.Invoke(ctx, "limited", []byte(`{}`), function.RequestResponse, false)
					te, isThrottle := errors.AsType[*function.ThrottleError](err)
					switch {
					case err == nil:
						ok.Add(1)
					case isThrottle && te.Reason == function.ReasonReserved:
						throttled.Add(1)
					default:
						other.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprint(err))
					}
				})
			}
			close(start)
			wg.Wait()
			if other.Load() > 0 {
				t.Fatalf("%d calls failed otherwise than throttled, first: %v", other.Load(), firstErr.Load())
			}
			if ok.Load()+throttled.Load() != 32 || throttled.Load() == 0 {
				t.Fatalf("%d succeeded, %d throttled: want 32 in all and some throttled", ok.Load(), throttled.Load())
			}
			got := r.max.Load()
			if tc.handover && got > limit {
				t.Fatalf("%d invocations ran at once over two replicas with ReservedConcurrentExecutions %d", got, limit)
			}
			if !tc.handover && got <= limit {
				t.Fatalf("without the hand-over at most %d ran at once: the measurement cannot tell a limit counted per replica (want %d)", got, 2*limit)
			}
			t.Logf("at most %d ran at once; %d succeeded, %d throttled", got, ok.Load(), throttled.Load())
			if tc.handover {
				// Every slot b took at a was given back.
				if n := a.SlotsInUse("limited"); n != 0 {
					t.Fatalf("%d slots still held at the owner after every call ended", n)
				}
			}
		})
	}
}

// The slot endpoints answer only servers of the cluster: no proof, a
// proof with another key, or an old one is refused with the reason; bad
// bodies get what to send. A slot nobody gives back (its replica died)
// is free at its expiry.
func TestSlotEndpointsAuthenticateReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := function.New(function.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	key := []byte("0123456789abcdef0123456789abcdef")
	h := NewSlotHandler(svc)
	h.SetReplicaKey(key)
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(path, auth string, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader([]byte(body)))
		if auth != "" {
			req.Header.Set(SlotAuthHeader, auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := `{"function":"f","limit":1,"ttlMs":60000}`
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for _, tc := range []struct{ name, auth, want string }{
		{"no proof", "", "is missing"},
		{"another key", now + ":" + slotMAC([]byte("another key of 32 bytes, not ours"), now, SlotPath+"take", []byte(body)), "does not check"},
		{"a proof for another body", now + ":" + slotMAC(key, now, SlotPath+"take", []byte(`{"function":"g","limit":1,"ttlMs":1}`)), "does not check"},
		{"an old proof", old + ":" + slotMAC(key, old, SlotPath+"take", []byte(body)), "too old"},
	} {
		status, msg := post(SlotPath+"take", tc.auth, body)
		if status != http.StatusForbidden || !bytes.Contains([]byte(msg), []byte(tc.want)) {
			t.Errorf("%s: %d %s, want 403 saying %q", tc.name, status, msg, tc.want)
		}
	}
	if n := svc.SlotsInUse("f"); n != 0 {
		t.Fatalf("a refused request took %d slots", n)
	}
	signed := func(path, body string) string {
		return now + ":" + slotMAC(key, now, path, []byte(body))
	}
	for _, bad := range []string{
		`{"function":"f"}`,
		`{"function":"f","slot":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","limit":1}`,
		`{"function":"f","slot":"1","limit":1,"ttlMs":60000}`,                                        // an id of the owner's own counter
		`{"function":"f","slot":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","limit":1,"ttlMs":9223372036854775807}`, // would overflow to a 1 s slot
		`{"function":"f","slot":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","limit":"1","ttlMs":60000}`,
		`[`,
	} {
		if status, msg := post(SlotPath+"take", signed(SlotPath+"take", bad), bad); status != http.StatusBadRequest || !bytes.Contains([]byte(msg), []byte("take wants")) {
			t.Errorf("take %s: %d %s, want 400 saying what a take wants", bad, status, msg)
		}
	}
	if status, msg := post(SlotPath+"give", signed(SlotPath+"give", `{"function":"f","slot":"1"}`), `{"function":"f","slot":"1"}`); status != http.StatusBadRequest {
		t.Errorf("a give of an owner's own slot id: %d %s, want 400", status, msg)
	}
	// The same signed take sent twice (a retry, or a replay within the
	// proof's minute) holds one slot, not two.
	take := `{"function":"replayed","slot":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","limit":5,"ttlMs":60000}`
	for range 2 {
		if status, msg := post(SlotPath+"take", signed(SlotPath+"take", take), take); status != http.StatusOK {
			t.Fatalf("take: %d %s", status, msg)
		}
	}
	if n := svc.SlotsInUse("replayed"); n != 1 {
		t.Fatalf("one take sent twice holds %d slots, want 1", n)
	}

	// A slot taken and never given back expires at its ttl (1 s).
	c := NewSlotClient()
	c.SetReplicaKey(key)
	if err := c.TakeSlot(ctx, srv.URL, "f", function.NewSlotID(), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	err = c.TakeSlot(ctx, srv.URL, "f", function.NewSlotID(), 1, time.Second)
	if te, ok := errors.AsType[*function.ThrottleError](err); !ok || te.Reason != function.ReasonReserved {
		t.Fatalf("a second slot of a limit of 1: %v, want a throttle with reason %s", err, function.ReasonReserved)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		id := function.NewSlotID()
		err := c.TakeSlot(ctx, srv.URL, "f", id, 1, time.Minute)
		if err == nil {
			if err := c.GiveSlot(ctx, srv.URL, "f", id); err != nil {
				t.Fatal(err)
			}
			break
		}
		if !errors.Is(err, function.ErrThrottled) || time.Now().After(deadline) {
			t.Fatalf("the slot nobody gave back is still held 10 s after its 1 s expiry: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := svc.SlotsInUse("f"); n != 0 {
		t.Fatalf("%d slots held after the give-back", n)
	}
}

// BenchmarkSlotTakeGive is what a call of a function with reserved
// concurrency pays for its slot: in process on the replica owning the
// function's shard (local), or one take and one give over HTTP to it from
// another replica (remote; loopback, plain HTTP, keep-alive).
func BenchmarkSlotTakeGive(b *testing.B) {
	st, err := store.Open(context.Background(), store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	svc := function.New(function.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	key := []byte("0123456789abcdef0123456789abcdef")
	h := NewSlotHandler(svc)
	h.SetReplicaKey(key)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := NewSlotClient()
	c.SetReplicaKey(key)
	ctx := context.Background()
	b.Run("local", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id, err := svc.TakeSlot("f", 1<<20, time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				svc.GiveSlot("f", id)
			}
		})
	})
	b.Run("remote", func(b *testing.B) {
		b.SetParallelism(8) // 16 callers on 2 cores, as the C16 benchmark
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := function.NewSlotID()
				err := c.TakeSlot(ctx, srv.URL, "f", id, 1<<20, time.Minute)
				if err == nil {
					err = c.GiveSlot(ctx, srv.URL, "f", id)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
