package queue

import (
	"container/heap"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// Message states in the owner's memory.
const (
	stDelayed uint8 = iota + 1
	stVisible
	stInflight
	stGone
)

// message is a stored message plus its receive state, which lives only in
// the owning process's memory.
type message struct {
	*model.QueueMessage
	state uint8
	due   int64 // unix ns when a delayed or in-flight message becomes visible
	hidx  int   // index in queue.timers, -1 when absent
	gen   uint32
	group *group
}

// group is a FIFO message group: its messages in sequence order, blocked
// while any of them is in flight.
type group struct {
	id       string
	msgs     []*message
	inflight int
	queued   bool
}

// queue is one queue's in-memory state on the owner. Every field below mu
// is guarded by it.
type queue struct {
	mu    sync.Mutex
	meta  *model.Queue
	cfg   model.QueueConfig
	arn   string
	fifo  bool
	msgs  map[string]*message
	ready deque[*message] // standard queues: visible messages, in arrival order (stale entries skipped)
	// FIFO queues: groups with a visible head and nothing in flight.
	groups      map[string]*group
	readyGroups deque[*group]
	clock       Clock
	timers      msgHeap
	timer       Timer
	timerAt     int64
	waiters     []chan struct{}
	nVisible    int
	nInflight   int
	nDelayed    int
	dedup       map[string]dedupEntry
	lastSeq     int64
	lastPurge   time.Time
	deleted     bool
	// released: deleted because this owner let the shard go (a hand-off,
	// a failover, shutting down), not because the queue was deleted; the
	// queue lives on with the next owner.
	released bool
	pending  sync.WaitGroup // sends being committed
	moves    []*moveTask
	onDue    func() // called (without mu) when the timer fires
}

type dedupEntry struct {
	msgID   string
	expires int64 // unix ms
	seq     int64
}

func newQueue(meta *model.Queue, region string, clock Clock) *queue {
	q := &queue{msgs: map[string]*message{}, clock: clock}
	q.setMeta(meta, region)
	if q.fifo {
		q.groups = map[string]*group{}
		q.dedup = map[string]dedupEntry{}
	}
	q.onDue = q.onTimer
	return q
}

func (q *queue) setMeta(meta *model.Queue, region string) {
	q.meta = meta
	q.cfg = meta.Config()
	q.fifo = meta.Fifo()
	q.arn = model.QueueArn(region, meta.Name)
}

// nextSeq hands out increasing sequence numbers from the wall clock in
// nanoseconds, so they keep increasing across restarts too.
func (q *queue) nextSeq(now time.Time) int64 {
	s := now.UnixNano()
	if s <= q.lastSeq {
		s = q.lastSeq + 1
	}
	q.lastSeq = s
	return s
}

// insert adds a committed (or loaded) message.
func (q *queue) insert(rec *model.QueueMessage, now int64) {
	m := &message{QueueMessage: rec, hidx: -1}
	q.msgs[rec.MessageID] = m
	if rec.Seq > q.lastSeq {
		q.lastSeq = rec.Seq
	}
	if q.fifo {
		g := q.groups[rec.GroupID]
		if g == nil {
			g = &group{id: rec.GroupID}
			q.groups[rec.GroupID] = g
		}
		m.group = g
		// Keep the group in sequence order; appends are the usual case.
		i := len(g.msgs)
		for i > 0 && g.msgs[i-1].Seq > rec.Seq {
			i--
		}
		g.msgs = append(g.msgs, nil)
		copy(g.msgs[i+1:], g.msgs[i:])
		g.msgs[i] = m
	}
	if due := rec.VisibleAtMs * int64(time.Millisecond); due > now {
		m.state = stDelayed
		m.due = due
		q.nDelayed++
		q.pushTimer(m)
		return
	}
	q.makeVisible(m)
}

// makeVisible turns a message visible and wakes a waiting receiver.
func (q *queue) makeVisible(m *message) {
	m.state = stVisible
	q.nVisible++
	if !q.fifo {
		q.ready.push(m)
		q.wake(1)
		return
	}
	q.groupMaybeReady(m.group)
}

func (q *queue) groupMaybeReady(g *group) {
	if g.queued || g.inflight > 0 || len(g.msgs) == 0 || g.msgs[0].state != stVisible {
		return
	}
	g.queued = true
	q.readyGroups.push(g)
	q.wake(1)
}

func (q *queue) wake(n int) {
	for n > 0 && len(q.waiters) > 0 {
		w := q.waiters[0]
		q.waiters[0] = nil
		q.waiters = q.waiters[1:]
		select {
		case w <- struct{}{}:
		default:
		}
		n--
	}
}

func (q *queue) wakeAll() { q.wake(len(q.waiters)) }

func (q *queue) addWaiter() chan struct{} {
	w := make(chan struct{}, 1)
	q.waiters = append(q.waiters, w)
	return w
}

func (q *queue) removeWaiter(w chan struct{}) {
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return
		}
	}
	// Already woken: pass the wake-up on, so it is not lost.
	select {
	case <-w:
		q.wake(1)
	default:
	}
}

// expired reports whether m is past the retention period.
func (q *queue) expired(m *message, nowMs int64) bool {
	return nowMs-m.SentMs > int64(q.cfg.MessageRetentionPeriod)*1000
}

// takeResult is what take decided for the messages it looked at.
type takeResult struct {
	got     []*message // now in flight
	dead    []*message // to move to the dead-letter queue
	expired []*message // past retention, to delete
}

// take hands out up to n visible messages, in flight for vis.
func (q *queue) take(n int, vis time.Duration, now time.Time) takeResult {
	var r takeResult
	nowNs := now.UnixNano()
	nowMs := nowNs / int64(time.Millisecond)
	maxRecv := 0
	if q.cfg.Redrive != nil {
		maxRecv = q.cfg.Redrive.MaxReceiveCount
	}
	accept := func(m *message) bool { // false: m left the queue instead
		if q.expired(m, nowMs) {
			q.remove(m)
			r.expired = append(r.expired, m)
			return false
		}
		if maxRecv > 0 && m.ReceiveCount >= maxRecv {
			q.remove(m)
			r.dead = append(r.dead, m)
			return false
		}
		q.nVisible--
		q.nInflight++
		m.state = stInflight
		m.gen++
		m.ReceiveCount++
		if m.FirstReceiveMs == 0 {
			m.FirstReceiveMs = nowMs
		}
		m.due = nowNs + int64(vis)
		q.pushTimer(m)
		if m.group != nil {
			m.group.inflight++
		}
		r.got = append(r.got, m)
		return true
	}
	if !q.fifo {
		for len(r.got) < n {
			m, ok := q.ready.pop()
			if !ok {
				break
			}
			if m.state != stVisible {
				continue
			}
			accept(m)
		}
		return r
	}
	for len(r.got) < n {
		g, ok := q.readyGroups.pop()
		if !ok {
			break
		}
		g.queued = false
		if g.inflight > 0 {
			continue
		}
		for len(r.got) < n && len(g.msgs) > 0 {
			// accept may remove the head; re-read it each time.
			var m *message
			for _, x := range g.msgs {
				if x.state != stInflight {
					m = x
					break
				}
			}
			if m == nil || m.state != stVisible {
				break
			}
			accept(m)
		}
		if g.inflight == 0 {
			q.groupMaybeReady(g)
		}
	}
	return r
}

// remove takes m out of the queue's memory, whatever its state.
func (q *queue) remove(m *message) {
	switch m.state {
	case stVisible:
		q.nVisible--
	case stInflight:
		q.nInflight--
		q.popTimer(m)
		if m.group != nil {
			m.group.inflight--
		}
	case stDelayed:
		q.nDelayed--
		q.popTimer(m)
	case stGone:
		return
	}
	m.state = stGone
	delete(q.msgs, m.MessageID)
	if g := m.group; g != nil {
		for i, x := range g.msgs {
			if x == m {
				g.msgs = append(g.msgs[:i], g.msgs[i+1:]...)
				break
			}
		}
		if len(g.msgs) == 0 {
			delete(q.groups, g.id)
		} else {
			q.groupMaybeReady(g)
		}
	}
}

// release makes an in-flight message visible again now.
func (q *queue) release(m *message) {
	q.popTimer(m)
	q.nInflight--
	if m.group != nil {
		m.group.inflight--
	}
	q.makeVisible(m)
	if m.group != nil {
		q.groupMaybeReady(m.group)
	}
}

// fire moves every due message to visible; it returns how many.
func (q *queue) fire(now int64) int {
	n := 0
	for len(q.timers) > 0 && q.timers[0].due <= now {
		m := heap.Pop(&q.timers).(*message)
		switch m.state {
		case stDelayed:
			q.nDelayed--
			q.makeVisible(m)
		case stInflight:
			q.nInflight--
			if m.group != nil {
				m.group.inflight--
			}
			q.makeVisible(m)
			if m.group != nil {
				q.groupMaybeReady(m.group)
			}
		}
		n++
	}
	q.armTimer(now)
	return n
}

func (q *queue) pushTimer(m *message) {
	if m.hidx >= 0 {
		heap.Fix(&q.timers, m.hidx)
	} else {
		heap.Push(&q.timers, m)
	}
	if q.timerAt == 0 || m.due < q.timerAt {
		q.armTimer(0)
	}
}

func (q *queue) popTimer(m *message) {
	if m.hidx >= 0 {
		heap.Remove(&q.timers, m.hidx)
	}
}

// armTimer sets the queue's timer to the earliest due message.
func (q *queue) armTimer(now int64) {
	if len(q.timers) == 0 || q.deleted {
		q.timerAt = 0
		return
	}
	at := q.timers[0].due
	if at == q.timerAt {
		return
	}
	q.timerAt = at
	if now == 0 {
		now = q.clock.Now().UnixNano()
	}
	d := time.Duration(at - now)
	if d < 0 {
		d = 0
	}
	if q.timer == nil {
		q.timer = q.clock.AfterFunc(d, q.onDue)
	} else {
		q.timer.Reset(d)
	}
}

// onTimer runs when the queue's timer fires.
func (q *queue) onTimer() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.timerAt = 0
	q.fire(q.clock.Now().UnixNano())
}

func (q *queue) stop() {
	q.deleted = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.wakeAll()
}
