package scheduler

// idHeap is a binary min-heap of int32 ids with position tracking, so an
// id whose key changed can be fixed or removed in O(log n). Several heaps
// may share one pos slice when their id sets are disjoint (the candidate
// heaps of a shape's cells do).
type idHeap struct {
	ids  []int32
	pos  []int32 // pos[id] is the index of id in ids, or -1
	less func(a, b int32) bool
}

// init heapifies ids (taking ownership of the slice) in O(n).
func (h *idHeap) init(ids []int32, pos []int32, less func(a, b int32) bool) {
	h.ids, h.pos, h.less = ids, pos, less
	for i, id := range ids {
		pos[id] = int32(i)
	}
	for i := len(ids)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *idHeap) len() int   { return len(h.ids) }
func (h *idHeap) top() int32 { return h.ids[0] }
func (h *idHeap) has(id int32) bool {
	p := h.pos[id]
	return p >= 0 && int(p) < len(h.ids) && h.ids[p] == id
}

// fix restores the heap after id's key changed.
func (h *idHeap) fix(id int32) {
	i := int(h.pos[id])
	if !h.down(i) {
		h.up(i)
	}
}

// push adds id, which must not be in the heap.
func (h *idHeap) push(id int32) {
	h.ids = append(h.ids, id)
	h.pos[id] = int32(len(h.ids) - 1)
	h.up(len(h.ids) - 1)
}

// remove takes id out of the heap.
func (h *idHeap) remove(id int32) {
	i := int(h.pos[id])
	last := len(h.ids) - 1
	if i != last {
		h.swap(i, last)
	}
	h.ids = h.ids[:last]
	h.pos[id] = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *idHeap) swap(i, j int) {
	h.ids[i], h.ids[j] = h.ids[j], h.ids[i]
	h.pos[h.ids[i]] = int32(i)
	h.pos[h.ids[j]] = int32(j)
}

func (h *idHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(h.ids[i], h.ids[parent]) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts i down and reports whether it moved.
func (h *idHeap) down(i0 int) bool {
	i, n := i0, len(h.ids)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(h.ids[r], h.ids[l]) {
			j = r
		}
		if !h.less(h.ids[j], h.ids[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
