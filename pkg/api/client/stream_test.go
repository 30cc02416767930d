package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
)

// invocationServer streams pings every tick for pings ticks, then one
// invocation, then stays silent until the client leaves.
func invocationServer(t *testing.T, pings int, tick time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/agent/nodes/n1/invocations" {
			http.NotFound(w, r)
			return
		}
		enc := json.NewEncoder(w)
		fl := w.(http.Flusher)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for range pings {
			enc.Encode(wire.InvocationEvent{Type: wire.InvocationPing})
			fl.Flush()
			select {
			case <-tk.C:
			case <-r.Context().Done():
				return
			}
		}
		enc.Encode(wire.InvocationEvent{Type: wire.InvocationInvoke, RequestID: "r1", Function: &wire.FunctionSpec{Name: "f"}, Payload: []byte(`{}`)})
		fl.Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func shortStreamIdle(t *testing.T, d time.Duration) {
	old := streamIdle
	streamIdle = d
	t.Cleanup(func() { streamIdle = old })
}

// Lines keep a stream alive past streamIdle (the watchdog reads when the
// last one came rather than being woken per line); silence then ends it.
func TestFollowInvocationsWatchdog(t *testing.T) {
	// A ping every 0.25 s for 2 s: longer than streamIdle (1 s), with
	// room for a busy machine's scheduling between two.
	shortStreamIdle(t, time.Second)
	srv := invocationServer(t, 8, 250*time.Millisecond)
	c := New(Config{Servers: []string{srv.URL}, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	var got []wire.InvocationEvent
	err := c.FollowInvocations(ctx, "n1", func(ev wire.InvocationEvent) error {
		got = append(got, ev)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "invocation stream silent for") {
		t.Fatalf("err %v, want the stream to end silent", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the watchdog did not end the silent stream")
	}
	var invokes int
	for _, ev := range got {
		if ev.Type == wire.InvocationInvoke {
			invokes++
			if ev.RequestID != "r1" || ev.Function == nil || ev.Function.Name != "f" || string(ev.Payload) != "{}" {
				t.Fatalf("invocation %+v", ev)
			}
		}
	}
	if invokes != 1 || len(got) != 9 {
		t.Fatalf("got %d events (%d invocations), want 8 pings and 1 invocation: the stream ended early", len(got), invokes)
	}
	if el := time.Since(start); el < 1750*time.Millisecond {
		t.Fatalf("ended after %s", el)
	}
}

// An error handle returns ends the stream and comes back as it is; the
// channel form (Invocations) delivers the same events.
func TestFollowInvocationsHandleError(t *testing.T) {
	srv := invocationServer(t, 2, 10*time.Millisecond)
	c := New(Config{Servers: []string{srv.URL}, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := errors.New("enough")
	err := c.FollowInvocations(ctx, "n1", func(ev wire.InvocationEvent) error {
		if ev.Type == wire.InvocationInvoke {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("err %v, want handle's own error", err)
	}
	evs, errs := c.Invocations(ctx, "n1")
	for ev := range evs {
		if ev.Type == wire.InvocationInvoke {
			if ev.RequestID != "r1" {
				t.Fatalf("invocation %+v", ev)
			}
			cancel()
		}
	}
	if err := <-errs; err == nil {
		t.Fatal("no error after the stream ended")
	}
}

// A server that takes the connection but never answers (a hung process,
// a half-open connection the transport reused) is found silent like one
// that stops sending later: the watchdog covers the wait for the answer's
// headers too, which no timeout of the stream's HTTP client bounds.
func TestFollowInvocationsNoAnswer(t *testing.T) {
	shortStreamIdle(t, 300*time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn // read nothing, answer nothing
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	c := New(Config{Servers: []string{"http://" + ln.Addr().String()}, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.FollowInvocations(ctx, "n1", func(wire.InvocationEvent) error { return nil })
	if ctx.Err() != nil {
		t.Fatalf("the stream waited for its answer until the test's deadline (%v)", err)
	}
	if err == nil || !strings.Contains(err.Error(), "invocation stream silent for") {
		t.Fatalf("err %v, want the stream found silent", err)
	}
}
