package scheduler

// idHeap is a binary min-heap of int32 ids with position tracking, so an
// id whose key changed can be fixed or removed in O(log n). Each entry
// carries its primary key inline, so most comparisons stay inside the heap
// array; only equal keys call tie. Several heaps may share one pos slice
// when their id sets are disjoint (the candidate heaps of a shape's cells
// do).
type idHeap struct {
	es  []heapEntry
	pos []int32 // pos[id] is the index of id in es, or -1
	tie func(a, b int32) bool
}

type heapEntry struct {
	key float64
	id  int32
}

// init heapifies es (taking ownership of the slice) in O(n).
func (h *idHeap) init(es []heapEntry, pos []int32, tie func(a, b int32) bool) {
	h.es, h.pos, h.tie = es, pos, tie
	for i, e := range es {
		pos[e.id] = int32(i)
	}
	for i := len(es)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *idHeap) len() int   { return len(h.es) }
func (h *idHeap) top() int32 { return h.es[0].id }
func (h *idHeap) has(id int32) bool {
	p := h.pos[id]
	return p >= 0 && int(p) < len(h.es) && h.es[p].id == id
}

// update sets id's primary key (its tie order may have changed too) and
// restores the heap.
func (h *idHeap) update(id int32, key float64) {
	i := int(h.pos[id])
	h.es[i].key = key
	if !h.down(i) {
		h.up(i)
	}
}

// push adds id, which must not be in the heap.
func (h *idHeap) push(id int32, key float64) {
	h.es = append(h.es, heapEntry{key, id})
	h.pos[id] = int32(len(h.es) - 1)
	h.up(len(h.es) - 1)
}

// remove takes id out of the heap.
func (h *idHeap) remove(id int32) {
	i := int(h.pos[id])
	last := len(h.es) - 1
	if i != last {
		h.swap(i, last)
	}
	h.es = h.es[:last]
	h.pos[id] = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *idHeap) less(i, j int) bool {
	a, b := &h.es[i], &h.es[j]
	if a.key != b.key {
		return a.key < b.key
	}
	return h.tie(a.id, b.id)
}

func (h *idHeap) swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.pos[h.es[i].id] = int32(i)
	h.pos[h.es[j].id] = int32(j)
}

func (h *idHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts i down and reports whether it moved.
func (h *idHeap) down(i0 int) bool {
	i, n := i0, len(h.es)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
