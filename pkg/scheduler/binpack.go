package scheduler

import (
	"math"
	"slices"
)

// binpacker places the tasks of shapes whose chain is binpack, optionally
// after one spread-by-attribute key: [binpack R] or [spread attribute:A,
// binpack R] (random ties aside). It walks a pass-wide index of the
// eligible nodes sorted by free R, so a shape costs the nodes it walks past
// instead of an O(n) setup:
//
//   - the best node is the first node at or after need(R) in the index that
//     passes the filters;
//   - a task placed there lowers its free R, so it stays the best for the
//     next task of the shape until it fails a filter (the nodes before it in
//     the index failed already, and filters only start failing during a
//     shape); then the walk goes on from where it was.
//
// With an attribute key there is one walk per attribute value, and each
// task goes to the value with the fewest tasks of the group, then the least
// free R. Ties in free R go to the node listed first in the snapshot.
type binpacker struct {
	p      *pass
	sh     *shape
	ix     *resIndex
	attr   *attrIndex // nil without an attribute key
	counts []int32    // tasks of the group per value of attr
	// cur[v] is the position in ix.order of value v's best node, or
	// len(ix.order) when v has none left. Without attr only cur[0] is used.
	cur []int
}

// resIndex is the eligible nodes sorted by free cpu or memory, as
// key<<32 | node with the key offset to be non-negative.
type resIndex struct {
	memory bool
	order  []uint64
	// synced is the number of entries of p.placedLog already reflected.
	synced int
}

func resKey(free int) uint64 {
	// Clamped to 32 bits: only absurd capacities (2^31 MiB) lose order.
	return uint64(min(max(int64(free)+math.MaxInt32, 0), math.MaxUint32))
}

func (ix *resIndex) free(h *nodeHot) int {
	if ix.memory {
		return h.free.MemoryMiB
	}
	return h.free.CPU
}

// resIndex returns the pass's index by free memory or cpu, brought up to
// date with the placements since it was last used.
func (p *pass) resIndex(memory bool) *resIndex {
	k := 0
	if memory {
		k = 1
	}
	ix := p.res[k]
	if ix == nil {
		ix = &resIndex{memory: memory, synced: len(p.placedLog)}
		for _, i := range p.eligible {
			ix.order = append(ix.order, resKey(ix.free(&p.hot[i]))<<32|uint64(i))
		}
		radixSort(ix.order, &p.buf.radix)
		p.res[k] = ix
		return ix
	}
	changed := p.placedLog[ix.synced:]
	ix.synced = len(p.placedLog)
	if len(changed) == 0 {
		return ix
	}
	// Take the changed nodes out, sort their new entries and merge them
	// back: O(n + d), sequential and allocation-free once warm.
	p.markGen++
	moved := p.buf.moved[:0]
	for _, i := range changed {
		if p.mark[i] != p.markGen {
			p.mark[i] = p.markGen
			moved = append(moved, resKey(ix.free(&p.hot[i]))<<32|uint64(i))
		}
	}
	radixSort(moved, &p.buf.radix)
	// One pass: the unchanged entries, in order, merged with the moved ones.
	merged := p.buf.kept[:0]
	b := 0
	for _, e := range ix.order {
		if p.mark[uint32(e)] == p.markGen {
			continue
		}
		for b < len(moved) && moved[b] < e {
			merged = append(merged, moved[b])
			b++
		}
		merged = append(merged, e)
	}
	merged = append(merged, moved[b:]...)
	p.buf.kept, ix.order = ix.order, merged
	p.buf.moved = moved
	return ix
}

// newBinpacker returns nil when the shape's chain is not a binpack one.
func (p *pass) newBinpacker(sh *shape) *binpacker {
	c := sh.chain
	var attr *attrIndex
	if c[0].kind == keySpreadAttr {
		attr = p.attrIndex(c[0].attr)
		if len(attr.values) > maxSampledValues {
			return nil
		}
		c = c[1:]
	}
	if len(c) != 2 || c[1].kind != keyRandom || c[0].kind != keyBinpackCPU && c[0].kind != keyBinpackMemory {
		return nil
	}
	b := &binpacker{p: p, sh: sh, ix: p.resIndex(c[0].kind == keyBinpackMemory), attr: attr, cur: []int{0}}
	if attr != nil {
		b.counts = p.valueCounts(attr, sh.group)
		b.cur = make([]int, len(attr.values))
	}
	// Start every walk at the first node with enough of the resource.
	need := sh.need.CPU
	if b.ix.memory {
		need = sh.need.MemoryMiB
	}
	start := 0
	if need > 0 {
		// (Zero needs fit even on over-committed nodes, at the very start.)
		start, _ = slices.BinarySearch(b.ix.order, resKey(need)<<32)
	}
	for v := range b.cur {
		b.cur[v] = start
	}
	return b
}

// best advances value v's walk to a node that passes the filters and
// returns it, or -1.
func (b *binpacker) best(v int) int32 {
	order := b.ix.order
	for ; b.cur[v] < len(order); b.cur[v]++ {
		i := int32(uint32(order[b.cur[v]]))
		if b.attr != nil && int(b.attr.valueOf[i]) != v {
			continue
		}
		if b.p.check(b.sh, i).kind == failNone {
			return i
		}
	}
	return -1
}

// next places one task; false when no node can take it.
func (b *binpacker) next() (int32, bool) {
	bestV, bestNode := -1, int32(-1)
	better := func(v int, i int32) bool {
		if bestNode < 0 {
			return true
		}
		if b.attr != nil && b.counts[v] != b.counts[bestV] {
			return b.counts[v] < b.counts[bestV]
		}
		if fi, fb := b.ix.free(&b.p.hot[i]), b.ix.free(&b.p.hot[bestNode]); fi != fb {
			return fi < fb
		}
		return i < bestNode
	}
	for v := range b.cur {
		if i := b.best(v); i >= 0 && better(v, i) {
			bestV, bestNode = v, i
		}
	}
	if bestNode < 0 {
		return -1, false
	}
	b.p.place(b.sh, bestNode)
	if b.attr != nil {
		b.counts[bestV]++
	}
	return bestNode, true
}

// radixSort sorts xs with an LSD radix sort on bytes, skipping the bytes
// all entries share. Index entries vary in few bytes (the node number and
// the low bytes of the free amount), so this is a few linear passes where a
// comparison sort would do a dozen compares per entry.
func radixSort(xs []uint64, scratch *[]uint64) {
	if len(xs) < 64 {
		slices.Sort(xs)
		return
	}
	var counts [8][256]int
	for _, x := range xs {
		for d := range 8 {
			counts[d][byte(x>>(8*d))]++
		}
	}
	src, dst := xs, grow(scratch, len(xs))
	for d := range 8 {
		c := &counts[d]
		if c[byte(xs[0]>>(8*d))] == len(xs) {
			continue // every entry has the same byte here
		}
		pos := 0
		for b := range c {
			c[b], pos = pos, pos+c[b]
		}
		for _, x := range src {
			b := byte(x >> (8 * d))
			dst[c[b]] = x
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &xs[0] {
		copy(xs, src)
	}
}
