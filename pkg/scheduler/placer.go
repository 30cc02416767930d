package scheduler

import (
	"math"
	"math/rand/v2"
	"slices"
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
	nk   int // node keys per candidate

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
	vals [maxStrategies]int32 // value id per attribute key
}

func (p *pass) newPlacer(sh *shape) *placer {
	pl := &placer{p: p, sh: sh, slot: make([]int, len(sh.chain))}
	for i, k := range sh.chain {
		if k.kind == keySpreadAttr {
			pl.slot[i] = len(pl.attrs)
			pl.attrs = append(pl.attrs, p.attrIndex(k.attr))
		} else {
			pl.slot[i] = pl.nk
			pl.nk++
		}
	}
	// Nodes outside p.eligible fail the first filters anyway.
	for _, i := range p.eligible {
		if p.check(sh, i).kind == failNone {
			pl.candNode = append(pl.candNode, i)
		}
	}
	pl.keys = make([]float64, len(pl.candNode)*pl.nk)
	for c := range pl.candNode {
		pl.setKeys(int32(c), true)
	}
	pl.candPos = make([]int32, len(pl.candNode))

	members := pl.buildCells()
	ids := make([]int32, len(pl.cells))
	for c := range pl.cells {
		ids[c] = int32(c)
		pl.cells[c].heap.init(members[c], pl.candPos, pl.candLess)
	}
	pl.cellPos = make([]int32, len(pl.cells))
	pl.cellHeap.init(ids, pl.cellPos, pl.cellLess)
	return pl
}

// buildCells assigns candidates to cells and returns each cell's members.
func (pl *placer) buildCells() [][]int32 {
	if len(pl.attrs) == 0 {
		if len(pl.candNode) == 0 {
			return nil
		}
		all := make([]int32, len(pl.candNode))
		for c := range all {
			all[c] = int32(c)
		}
		pl.cells = []cell{{}}
		return [][]int32{all}
	}
	p, group := pl.p, pl.sh.group
	pl.counts = make([][]int32, len(pl.attrs))
	for j, ix := range pl.attrs {
		pl.counts[j] = make([]int32, len(ix.values))
		for _, i := range p.groupNodes[group] {
			pl.counts[j][ix.valueOf[i]] += p.nodes[i].groups[group]
		}
	}
	var members [][]int32
	cellOf := map[[maxStrategies]int32]int32{}
	for c, i := range pl.candNode {
		var vals [maxStrategies]int32
		for j, ix := range pl.attrs {
			vals[j] = ix.valueOf[i]
		}
		id, ok := cellOf[vals]
		if !ok {
			id = int32(len(pl.cells))
			cellOf[vals] = id
			pl.cells = append(pl.cells, cell{vals: vals})
			members = append(members, nil)
		}
		members[id] = append(members[id], int32(c))
	}
	if len(pl.attrs) > 1 {
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
	return members
}

// setKeys computes candidate c's node keys from the node's current state.
// Random keys are clocks: each starts at an exponential draw and advances by
// another one when a task lands on the node. By memorylessness, the next
// node is then a uniform pick among those tied on the earlier keys, however
// many tasks were placed before (a fixed random rank would instead send
// every task to the same node).
func (pl *placer) setKeys(c int32, fresh bool) {
	i := pl.candNode[c]
	n := &pl.p.nodes[i]
	k := pl.keys[int(c)*pl.nk : int(c)*pl.nk+pl.nk]
	for pos, key := range pl.sh.chain {
		s := pl.slot[pos]
		switch key.kind {
		case keyBinpackCPU:
			k[s] = float64(n.free.CPU)
		case keyBinpackMemory:
			k[s] = float64(n.free.MemoryMiB)
		case keySpreadNode:
			k[s] = float64(n.groups[pl.sh.group])
		case keyRandom:
			if fresh {
				k[s] = pl.p.expDraw(i)
			} else {
				k[s] += pl.p.expDraw(i)
			}
		}
	}
}

func (pl *placer) candLess(a, b int32) bool {
	ka := pl.keys[int(a)*pl.nk : int(a)*pl.nk+pl.nk]
	kb := pl.keys[int(b)*pl.nk : int(b)*pl.nk+pl.nk]
	for j := range ka {
		if ka[j] != kb[j] {
			return ka[j] < kb[j]
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
				cl.heap.fix(cand)
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
			pl.cellHeap.push(c)
		}
	}
}

// sampleTries bounds random probing before falling back to a placer. With
// half the nodes able to take a task, 16 misses in a row happen once in
// 65,536 shapes, and then the placer gives the same answer, only slower.
const sampleTries = 16

// sampleable reports whether the shape's chain is satisfied by a uniform
// random pick among feasible nodes: plain random, or spread by instance
// while some feasible node runs no task of the group (the default chain).
// Such shapes need no O(n) setup, which keeps the cost of a pass with many
// small services independent of the fleet size.
func sampleable(sh *shape) bool {
	c := sh.chain
	return len(c) == 1 && c[0].kind == keyRandom ||
		len(c) == 2 && c[0].kind == keySpreadNode && c[1].kind == keyRandom
}

// sample probes random eligible nodes for one that passes the filters (and,
// for spread by instance, runs no task of the group: the least possible
// count). Rejection sampling keeps the pick uniform over those nodes.
func (p *pass) sample(sh *shape, rng *rand.Rand) (int32, bool) {
	if len(p.eligible) == 0 {
		return -1, false
	}
	spread := sh.chain[0].kind == keySpreadNode
	for range sampleTries {
		i := p.eligible[rng.IntN(len(p.eligible))]
		if spread && p.nodes[i].groups[sh.group] > 0 {
			continue
		}
		if p.check(sh, i).kind == failNone {
			return i, true
		}
	}
	return -1, false
}

// expDraw returns a seeded exponential(1) draw; successive calls differ.
func (p *pass) expDraw(i int32) float64 {
	p.draws++
	h := splitmix64(splitmix64(uint64(p.seed)^uint64(i)<<32) + p.draws)
	u := (float64(h>>11) + 0.5) / (1 << 53) // in (0, 1)
	return -math.Log(u)
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
