package queue

// msgHeap orders messages by due time.
type msgHeap []*message

func (h msgHeap) Len() int           { return len(h) }
func (h msgHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h msgHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}
func (h *msgHeap) Push(x any) {
	m := x.(*message)
	m.hidx = len(*h)
	*h = append(*h, m)
}
func (h *msgHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.hidx = -1
	return m
}

// deque is a FIFO of T on a ring buffer.
type deque[T any] struct {
	buf        []T
	head, size int
}

func (d *deque[T]) push(v T) {
	if d.size == len(d.buf) {
		nb := make([]T, max(16, 2*len(d.buf)))
		for i := 0; i < d.size; i++ {
			nb[i] = d.buf[(d.head+i)%len(d.buf)]
		}
		d.buf, d.head = nb, 0
	}
	d.buf[(d.head+d.size)%len(d.buf)] = v
	d.size++
}

func (d *deque[T]) pop() (T, bool) {
	var zero T
	if d.size == 0 {
		return zero, false
	}
	v := d.buf[d.head]
	d.buf[d.head] = zero
	d.head = (d.head + 1) % len(d.buf)
	d.size--
	return v, true
}

func (d *deque[T]) len() int { return d.size }

func (d *deque[T]) reset() { *d = deque[T]{} }
