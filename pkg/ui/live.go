package ui

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// hub is the one fan-out per server: cache subscriptions call notify, run
// coalesces a burst into one event per window and hands it to every open
// page. A slow page never blocks the hub: each client keeps only the set
// of kinds it has not been sent yet.
type hub struct {
	window time.Duration

	mu      sync.Mutex
	gen     uint64 // counts the events sent; cached fragments belong to one
	pending map[string]bool
	signal  chan struct{}
	subs    map[*client]struct{}
}

type client struct {
	mu     sync.Mutex
	kinds  map[string]bool
	signal chan struct{}
}

func newHub(window time.Duration) *hub {
	return &hub{window: window, pending: map[string]bool{}, signal: make(chan struct{}, 1), subs: map[*client]struct{}{}}
}

func (h *hub) notify(kind string) {
	h.mu.Lock()
	h.pending[kind] = true
	h.mu.Unlock()
	select {
	case h.signal <- struct{}{}:
	default:
	}
}

func (h *hub) clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// minGap is the least time between two events.
const minGap = 250 * time.Millisecond

func (h *hub) run(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.signal:
		}
		// Wait out the burst (and at least minGap since the last event, so
		// a busy cluster costs each page at most a few renders a second),
		// then send what changed in it.
		wait := max(h.window, minGap-time.Since(last))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		last = time.Now()
		h.mu.Lock()
		kinds := h.pending
		h.pending = map[string]bool{}
		h.gen++
		subs := make([]*client, 0, len(h.subs))
		for c := range h.subs {
			subs = append(subs, c)
		}
		h.mu.Unlock()
		for _, c := range subs {
			c.mu.Lock()
			for k := range kinds {
				c.kinds[k] = true
			}
			c.mu.Unlock()
			select {
			case c.signal <- struct{}{}:
			default:
			}
		}
	}
}

func (h *hub) generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// fragments caches rendered live regions for the current generation: when
// 20 pages re-fetch after one event, the first renders and the others wait
// for its bytes. Live regions hold no per-session data (no CSRF fields), so
// they may be shared between signed-in people.
type fragments struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*fragment
}

type fragment struct {
	done chan struct{} // closed when b is set (nil b: rendering failed)
	b    []byte
}

// claim returns the cached fragment for key in generation gen, waiting
// while another request renders it; or, with mine true, an entry the
// caller must fill with fill.
func (f *fragments) claim(gen uint64, key string) (fr *fragment, mine bool) {
	f.mu.Lock()
	if gen > f.gen || f.m == nil {
		f.gen, f.m = gen, map[string]*fragment{}
	}
	if gen < f.gen {
		f.mu.Unlock()
		return nil, false
	}
	if fr = f.m[key]; fr != nil {
		f.mu.Unlock()
		<-fr.done
		return fr, false
	}
	fr = &fragment{done: make(chan struct{})}
	f.m[key] = fr
	f.mu.Unlock()
	return fr, true
}

func (fr *fragment) fill(b []byte) {
	fr.b = b
	close(fr.done)
}

func (h *hub) subscribe() *client {
	c := &client{kinds: map[string]bool{}, signal: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c
}

func (h *hub) unsubscribe(c *client) {
	h.mu.Lock()
	delete(h.subs, c)
	h.mu.Unlock()
}

func (c *client) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.kinds))
	for k := range c.kinds {
		out = append(out, k)
	}
	clear(c.kinds)
	slices.Sort(out)
	return out
}

// heartbeatEvery keeps proxies from closing an idle event stream.
const heartbeatEvery = 15 * time.Second

// events is GET /ui/events: a server-sent event "change" whose data is
// the kinds that changed ("nodes tasks") and whose id is the server time
// in Unix milliseconds when it was sent (the benchmark reads it).
func (u *UI) events(w http.ResponseWriter, r *http.Request, _ *session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	fl.Flush()
	c := u.hub.subscribe()
	defer u.hub.unsubscribe(c)
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-c.signal:
			kinds := c.take()
			if len(kinds) == 0 {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: change\ndata: %s\n\n", time.Now().UnixMilli(), strings.Join(kinds, " ")); err != nil {
				return
			}
		}
		fl.Flush()
	}
}
