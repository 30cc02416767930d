package scheduler

import (
	"slices"

	"github.com/orch-project/orch/pkg/placement"
)

// placer picks nodes for the tasks of one shape in the order its strategy
// chain defines, in O(log n) per task after an O(n) setup.
//
// Candidates (nodes passing every filter) are grouped into cells: nodes
// sharing the values of all spread-by-attribute keys of the chain. Within a
// cell those keys are equal, so a cell's candidates can be kept in a heap
// ordered by the remaining, per-node keys (binpack, spread by instance,
// random), whose values change only for the node a task was just placed
// on. The cells themselves sit in a heap ordered by the full chain: the
// attribute counts of the cell and the keys of its best candidate. (Keeping
// all nodes in one heap would not work: placing a task in zone A changes
// the key of every node in zone A.)
//
// Filters can only start failing for the node a task was placed on (its
// resources, ports and task groups change; nothing else does), so after
// each placement only that node is re-checked.
type placer struct {
	p  *pass
	sh *shape
	// slot maps a chain position to its index among the node keys or,
	// for keySpreadAttr, among attrs.
	slot []int
	nk   int  // node keys per candidate
	fold bool // the random key is folded into the previous node key

	candNode []int32   // candidate id → node index
	keys     []float64 // candidate c's node keys are keys[c*nk : c*nk+nk]
	candPos  []int32   // heap positions of candidates, shared by the cell heaps

	cells    []cell
	cellPos  []int32
	cellHeap idHeap

	attrs  []*attrIndex // one per spread-by-attribute key
	counts [][]int32    // counts[j][value] = tasks of the group on nodes with that value of attrs[j]
	// sharing[j][value] lists the cells with that value of attrs[j]; only
	// needed with two or more attribute keys, where one placement changes
	// the key of other cells too.
	sharing [][][]int32
}

type cell struct {
	heap idHeap
	vals [placement.MaxStrategies]int32 // value id per attribute key
}

func (p *pass) newPlacer(sh *shape) *placer {
	pl := &placer{p: p, sh: sh, slot: make([]int, len(sh.chain))}
	last := len(sh.chain) - 1 // always the random key
	for i, k := range sh.chain {
		switch {
		case k.kind == keySpreadAttr:
			pl.slot[i] = len(pl.attrs)
			pl.attrs = append(pl.attrs, p.attrIndex(k.attr))
		case i == last && i > 0 && sh.chain[i-1].kind != keySpreadAttr:
			// Node keys are integers, so a random fraction added to the
			// previous one breaks its ties and nothing else: one key fewer
			// to store and compare.
			pl.slot[i] = pl.slot[i-1]
			pl.fold = true
		default:
			pl.slot[i] = pl.nk
			pl.nk++
		}
	}
	// The candidate arrays are per shape but shapes are placed one after
	// the other, so they reuse the pass's buffers.
	b := &p.buf
	pl.candNode = b.cand[:0]
	pl.keys = b.keys[:0]
	// Nodes outside p.eligible fail the first filters anyway.
	for _, i := range p.eligible {
		if p.check(sh, i).kind == failNone {
			pl.candNode = append(pl.candNode, i)
			pl.keys = append(pl.keys, make([]float64, pl.nk)...)
			pl.setKeys(int32(len(pl.candNode)-1), true)
		}
	}
	b.cand, b.keys = pl.candNode, pl.keys
	pl.candPos = grow(&b.pos, len(pl.candNode))

	members := pl.buildCells()
	ids := make([]heapEntry, len(pl.cells))
	for c := range pl.cells {
		ids[c] = heapEntry{id: int32(c)} // cells are ordered by cellLess alone
		pl.cells[c].heap.init(members[c], pl.candPos, pl.candTie)
	}
	pl.cellPos = make([]int32, len(pl.cells))
	pl.cellHeap.init(ids, pl.cellPos, pl.cellLess)
	return pl
}

// buffers are scratch slices reused by the placers of a pass.
type buffers struct {
	cand, pos, cellOf  []int32
	members            []heapEntry
	moved, kept, radix []uint64
	keys               []float64
}

// grow returns (*buf)[:n], reallocating when too small.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}

// buildCells assigns candidates to cells and returns each cell's members,
// as heap entries keyed by their first node key. All members live in one
// reused buffer, sorted by cell (a counting sort), so a shape allocates
// almost nothing however many candidates it has.
func (pl *placer) buildCells() [][]heapEntry {
	nc := len(pl.candNode)
	if nc == 0 {
		return nil
	}
	all := grow(&pl.p.buf.members, nc)
	if len(pl.attrs) == 0 {
		for c := range all {
			all[c] = pl.entry(int32(c))
		}
		pl.cells = []cell{{}}
		return [][]heapEntry{all}
	}
	pl.counts = make([][]int32, len(pl.attrs))
	for j, ix := range pl.attrs {
		pl.counts[j] = pl.p.valueCounts(ix, pl.sh.group)
	}
	cellOf := grow(&pl.p.buf.cellOf, nc)
	if len(pl.attrs) == 1 {
		// One attribute: cells are its values, no need to hash tuples.
		ix := pl.attrs[0]
		byValue := make([]int32, len(ix.values))
		for v := range byValue {
			byValue[v] = -1
		}
		for c, i := range pl.candNode {
			v := ix.valueOf[i]
			if byValue[v] < 0 {
				byValue[v] = int32(len(pl.cells))
				pl.cells = append(pl.cells, cell{vals: [placement.MaxStrategies]int32{v}})
			}
			cellOf[c] = byValue[v]
		}
	} else {
		byTuple := map[[placement.MaxStrategies]int32]int32{}
		for c, i := range pl.candNode {
			var vals [placement.MaxStrategies]int32
			for j, ix := range pl.attrs {
				vals[j] = ix.valueOf[i]
			}
			id, ok := byTuple[vals]
			if !ok {
				id = int32(len(pl.cells))
				byTuple[vals] = id
				pl.cells = append(pl.cells, cell{vals: vals})
			}
			cellOf[c] = id
		}
		pl.sharing = make([][][]int32, len(pl.attrs))
		for j, ix := range pl.attrs {
			pl.sharing[j] = make([][]int32, len(ix.values))
		}
		for id := range pl.cells {
			for j := range pl.attrs {
				v := pl.cells[id].vals[j]
				pl.sharing[j][v] = append(pl.sharing[j][v], int32(id))
			}
		}
	}
	start := make([]int, len(pl.cells)+1)
	for _, id := range cellOf {
		start[id+1]++
	}
	for k := 1; k < len(start); k++ {
		start[k] += start[k-1]
	}
	members := make([][]heapEntry, len(pl.cells))
	for k := range members {
		members[k] = all[start[k]:start[k]:start[k+1]]
	}
	for c, id := range cellOf {
		members[id] = append(members[id], pl.entry(int32(c)))
	}
	return members
}

// setKeys computes candidate c's node keys from the node's current state.
// A random key on its own is a clock: it starts at an exponential draw and
// advances by another one when a task lands on the node. By memorylessness,
// the next node is then a uniform pick among those tied on the earlier keys,
// however many tasks were placed before (a fixed random rank would instead
// send every task to the same node). A random key folded into an integer
// key is a fraction redrawn at each placement.
func (pl *placer) setKeys(c int32, fresh bool) {
	i := pl.candNode[c]
	n, h := &pl.p.nodes[i], &pl.p.hot[i]
	k := pl.keys[int(c)*pl.nk : int(c)*pl.nk+pl.nk]
	for pos, key := range pl.sh.chain {
		s := pl.slot[pos]
		switch key.kind {
		case keyBinpackCPU:
			k[s] = float64(h.free.CPU)
		case keyBinpackMemory:
			k[s] = float64(h.free.MemoryMiB)
		case keySpreadNode:
			k[s] = 0
			if pl.p.hosts(i) {
				k[s] = float64(n.count(pl.sh.group))
			}
		case keyRandom:
			switch {
			case pl.fold:
				k[s] += pl.p.rng.Float64() // k[s] was just set to an integer
			case fresh:
				k[s] = pl.p.rng.ExpFloat64()
			default:
				k[s] += pl.p.rng.ExpFloat64()
			}
		}
	}
}

// entry is candidate c as a heap entry: its first node key inline.
func (pl *placer) entry(c int32) heapEntry {
	return heapEntry{key: pl.keys[int(c)*pl.nk], id: c}
}

// candTie orders candidates whose first node keys are equal.
func (pl *placer) candTie(a, b int32) bool {
	for j := 1; j < pl.nk; j++ {
		if x, y := pl.keys[int(a)*pl.nk+j], pl.keys[int(b)*pl.nk+j]; x != y {
			return x < y
		}
	}
	return a < b
}

func (pl *placer) cellLess(a, b int32) bool {
	ca, cb := &pl.cells[a], &pl.cells[b]
	ta, tb := int(ca.heap.top())*pl.nk, int(cb.heap.top())*pl.nk
	for pos, key := range pl.sh.chain {
		s := pl.slot[pos]
		if key.kind == keySpreadAttr {
			x, y := pl.counts[s][ca.vals[s]], pl.counts[s][cb.vals[s]]
			if x != y {
				return x < y
			}
			continue
		}
		if x, y := pl.keys[ta+s], pl.keys[tb+s]; x != y {
			return x < y
		}
	}
	return a < b
}

// next places one task on the best node and returns it; false when no node
// can take it.
func (pl *placer) next() (int32, bool) {
	p, sh := pl.p, pl.sh
	for pl.cellHeap.len() > 0 {
		c := pl.cellHeap.top()
		cl := &pl.cells[c]
		cand := cl.heap.top()
		i := pl.candNode[cand]
		if p.check(sh, i).kind != failNone {
			// Cannot happen with the invariant above; dropping the node
			// keeps a broken invariant from over-committing it.
			pl.changeCells([]int32{c}, func() { cl.heap.remove(cand) })
			continue
		}
		pl.changeCells(pl.affected(c), func() {
			p.place(sh, i)
			if p.check(sh, i).kind == failNone {
				pl.setKeys(cand, false)
				cl.heap.update(cand, pl.keys[int(cand)*pl.nk])
			} else {
				cl.heap.remove(cand)
			}
			for j := range pl.attrs {
				pl.counts[j][cl.vals[j]]++
			}
		})
		return i, true
	}
	return -1, false
}

// affected lists the cells whose keys change when a task lands in cell c:
// c itself and, with several attribute keys, every cell sharing one of
// c's values (their counts change too).
func (pl *placer) affected(c int32) []int32 {
	if pl.sharing == nil {
		return []int32{c}
	}
	out := []int32{c}
	for j := range pl.sharing {
		for _, o := range pl.sharing[j][pl.cells[c].vals[j]] {
			if o != c && pl.cellHeap.has(o) && !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// changeCells takes cells out of the cell heap, runs change (which alters
// their keys), and puts back those that still have candidates. Fixing
// several changed entries in place one by one would not restore a heap;
// removing them while their keys are still the ones the heap was built on
// does.
func (pl *placer) changeCells(cells []int32, change func()) {
	for _, c := range cells {
		pl.cellHeap.remove(c)
	}
	change()
	for _, c := range cells {
		if pl.cells[c].heap.len() > 0 {
			pl.cellHeap.push(c, 0)
		}
	}
}

// valueCounts counts the tasks of group g per value of an attribute.
func (p *pass) valueCounts(ix *attrIndex, g int32) []int32 {
	counts := make([]int32, len(ix.values))
	for _, i := range p.groupNodes[g] {
		counts[ix.valueOf[i]] += p.nodes[i].count(g)
	}
	return counts
}

// sampleTries bounds random probing before falling back to a placer. With
// half the nodes able to take a task, 16 misses in a row happen once in
// 65,536 shapes, and then the placer gives the same answer, only slower.
const sampleTries = 16

// maxSampledValues bounds the attribute values a sampler scans per task;
// spreading over more (say attribute:hostname) goes to the placer, whose
// cell heap handles many values in O(log n).
const maxSampledValues = 64

// sampler places the tasks of shapes whose chain is satisfied by a uniform
// random pick among the feasible nodes of the right kind: plain random,
// spread by instance, spread by one attribute, or spread by one attribute
// then instance (ECS's default with zones). For these the best node is
// known without ranking all nodes: a node running no task of the group is
// the least possible instance count, and the attribute value with the
// fewest tasks comes first. Probing random nodes then costs O(1) per task
// instead of an O(n) setup per shape, which keeps a pass with many small
// services independent of the fleet size. When probing fails, the placer
// takes over and gives the exact answer.
type sampler struct {
	p          *pass
	sh         *shape
	spreadNode bool
	attr       *attrIndex // nil without a spread-by-attribute key
	counts     []int32    // tasks of the group per value of attr
	ties       []int32    // scratch
	// pool is where probes are drawn from without attr: the eligible
	// nodes, narrowed once to those matching the shape's most selective
	// static memberOf expression when probing misses (a constraint that
	// few nodes meet would otherwise make it miss every time).
	pool     []int32
	narrowed bool
}

// newSampler returns nil when the shape's chain needs a placer.
func (p *pass) newSampler(sh *shape) *sampler {
	c := sh.chain
	s := &sampler{p: p, sh: sh}
	if c[0].kind == keySpreadAttr {
		s.attr = p.attrIndex(c[0].attr)
		if len(s.attr.values) > maxSampledValues {
			return nil
		}
		c = c[1:]
	}
	if c[0].kind == keySpreadNode {
		s.spreadNode = true
		c = c[1:]
	}
	if len(c) != 1 || c[0].kind != keyRandom || len(p.eligible) == 0 {
		return nil
	}
	if s.attr != nil {
		s.counts = p.valueCounts(s.attr, sh.group)
	}
	s.pool = p.eligible
	return s
}

// narrow draws later probes from the nodes matching the most selective
// static memberOf expression of the shape; false when there is nothing to
// narrow. Rejection sampling over that pool still picks uniformly among
// the nodes that pass all filters.
func (s *sampler) narrow() bool {
	if s.narrowed || s.attr != nil {
		return false
	}
	s.narrowed = true
	narrowed := false
	for _, m := range s.sh.memberOf {
		if !m.dynamic {
			if pool := s.p.matchPool(m); len(pool) < len(s.pool) {
				s.pool, narrowed = pool, true
			}
		}
	}
	return narrowed
}

// next probes for a node and places the task there; false means "ask the
// placer", not "no node can take it".
func (s *sampler) next() (int32, bool) {
	if i, ok := s.probe(); ok || !s.narrow() {
		return i, ok
	}
	return s.probe()
}

func (s *sampler) probe() (int32, bool) {
	p, sh := s.p, s.sh
	pool := s.pool
	v := int32(-1)
	if s.attr != nil {
		// The value with the fewest tasks of the group (ties at random)
		// among values with eligible nodes.
		s.ties = s.ties[:0]
		for id, nodes := range s.attr.eligible {
			if len(nodes) == 0 {
				continue
			}
			if len(s.ties) > 0 && s.counts[id] > s.counts[s.ties[0]] {
				continue
			}
			if len(s.ties) > 0 && s.counts[id] < s.counts[s.ties[0]] {
				s.ties = s.ties[:0]
			}
			s.ties = append(s.ties, int32(id))
		}
		if len(s.ties) == 0 {
			return -1, false
		}
		v = s.ties[p.rng.IntN(len(s.ties))]
		pool = s.attr.eligible[v]
	}
	for range sampleTries {
		if len(pool) == 0 {
			break
		}
		i := pool[p.rng.IntN(len(pool))]
		if s.spreadNode && p.hosts(i) {
			continue
		}
		if p.check(sh, i).kind == failNone {
			p.place(sh, i)
			if v >= 0 {
				s.counts[v]++
			}
			return i, true
		}
	}
	return -1, false
}
