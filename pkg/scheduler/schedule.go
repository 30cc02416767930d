package scheduler

import (
	"hash/maphash"
	"maps"
	"strconv"
)

// Schedule places pending tasks onto the nodes of snap. It is a pure
// function: the same snapshot, requests and seed give the same result.
//
// Requests are grouped into shapes (same group, requirements, ports,
// strategy and constraints) and shapes are served in the order of their
// first request, all tasks of a shape at once; the controller passes
// requests oldest first. Each request is either placed or explained in
// Unplaced; a TaskID given twice is handled once. Results keep the order
// of pending.
func Schedule(snap Snapshot, pending []Request, seed int64) Result {
	p := newPass(snap, seed, len(pending))

	// outcome[i] is the node of request i (>= 0), outDuplicate, or
	// unplacedBase-k for explanation k.
	outcome := make([]int32, len(pending))
	var shapes []*shape
	byKey := map[string]*shape{}
	seen := newIDSet(len(pending))
	var key []byte
	for i := range pending {
		r := &pending[i]
		if !seen.add(pending, i) {
			outcome[i] = outDuplicate
			continue
		}
		key = appendShapeKey(key[:0], r)
		sh := byKey[string(key)]
		if sh == nil {
			sh = p.newShape(len(shapes), r)
			shapes = append(shapes, sh)
			byKey[string(key)] = sh
		}
		outcome[i] = int32(sh.index) // the shape, until placed
		sh.size++
	}
	// Give each shape its requests, in order, from one buffer.
	reqs := make([]int32, 0, len(pending))
	for _, sh := range shapes {
		sh.reqs = reqs[len(reqs) : len(reqs) : len(reqs)+sh.size]
		reqs = reqs[:len(reqs)+sh.size]
	}
	for i, o := range outcome {
		if o != outDuplicate {
			sh := shapes[o]
			sh.reqs = append(sh.reqs, int32(i))
		}
	}

	var why []Unplaced
	for _, sh := range shapes {
		why = p.schedule(sh, outcome, why)
	}

	res := Result{Placements: make([]Placement, 0, len(p.placedLog))}
	for i, o := range outcome {
		switch {
		case o >= 0:
			res.Placements = append(res.Placements, Placement{TaskID: pending[i].TaskID, Node: snap.Nodes[o].Name})
		case o <= unplacedBase:
			u := why[unplacedBase-o]
			u.TaskID = pending[i].TaskID
			u.Reasons = maps.Clone(u.Reasons) // callers may keep or edit each one
			res.Unplaced = append(res.Unplaced, u)
		}
	}
	return res
}

// Outcome markers; node indexes are >= 0.
const (
	outDuplicate = -1
	unplacedBase = -2
)

// schedule places the tasks of one shape, recording each request's node
// in outcome, or an explanation appended to why.
func (p *pass) schedule(sh *shape, outcome []int32, why []Unplaced) []Unplaced {
	unplace := func(reqs []int32, u Unplaced) []Unplaced {
		for _, r := range reqs {
			outcome[r] = unplacedBase - int32(len(why))
		}
		return append(why, u)
	}
	if sh.invalid != nil {
		return unplace(sh.reqs, invalidUnplaced(sh.invalid))
	}
	// A shape whose filters match those of an earlier shape that found no
	// node finds none either, as long as those filters only tighten during
	// a pass (all but task:group expressions do) or nothing was placed
	// since. Skipping it keeps a pass over a full cluster with many pending
	// shapes cheap.
	fk, monotone := filterKey(sh)
	if e := p.unplaceable[fk]; e != nil && (monotone || e.version == len(p.placedLog)) {
		if e.version != len(p.placedLog) {
			p.begin(sh)
			e.u, e.version = p.explain(sh), len(p.placedLog)
		}
		return unplace(sh.reqs, e.u)
	}
	// Binpack shapes walk a sorted index; most other shapes are served by
	// probing random nodes; a placer is only built when the chain needs one
	// or probing fails.
	bp := p.newBinpacker(sh)
	p.begin(sh)
	var sm *sampler
	if bp == nil {
		sm = p.newSampler(sh)
	}
	var pl *placer
	for k, r := range sh.reqs {
		i, ok := int32(-1), false
		switch {
		case bp != nil:
			i, ok = bp.next()
		case pl == nil && sm != nil:
			i, ok = sm.next()
		}
		if !ok && bp == nil {
			if pl == nil {
				pl = p.newPlacer(sh)
			}
			i, ok = pl.next()
		}
		if !ok {
			// Every node fails some filter now, and later tasks of the
			// shape would meet the same nodes: explain once for all.
			u := p.explain(sh)
			p.unplaceable[fk] = &explained{version: len(p.placedLog), u: u}
			return unplace(sh.reqs[k:], u)
		}
		outcome[r] = i
	}
	return why
}

// explained is the explanation of an unplaceable filter key at a version
// of the pass (the number of placements made so far).
type explained struct {
	version int
	u       Unplaced
}

// filterKey identifies what the filters of sh look at: its group only
// when distinctInstance or a task:group expression makes them depend on it.
// monotone reports whether they only tighten as tasks are placed.
func filterKey(sh *shape) (key string, monotone bool) {
	monotone = true
	for _, m := range sh.memberOf {
		monotone = monotone && !m.dynamic
	}
	var b []byte
	if sh.distinct || !monotone {
		b = appendString(b, sh.groupName)
	}
	b = strconv.AppendInt(b, int64(sh.need.CPU), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(sh.need.MemoryMiB), 10)
	for _, port := range sh.ports {
		b = appendString(append(b, 'p'), port)
	}
	if sh.distinct {
		b = append(b, 'd')
	}
	for _, m := range sh.memberOf {
		b = appendString(append(b, 'm'), m.text)
	}
	return string(b), monotone
}

// idSet detects repeated TaskIDs: an open-addressing hash set of request
// indexes. Unlike a map[string]struct{} it holds no pointers, so the
// garbage collector does not scan it, and it is a single allocation. Its
// hash seed is random (like a map's), which only moves entries around the
// table: it never changes what Schedule returns.
type idSet struct {
	seed  maphash.Seed
	slots []int32 // request index + 1; 0 is empty
}

func newIDSet(n int) *idSet {
	size := 16
	for size < 2*n {
		size *= 2
	}
	return &idSet{seed: maphash.MakeSeed(), slots: make([]int32, size)}
}

// add reports whether pending[i].TaskID was not seen before, and adds it.
func (s *idSet) add(pending []Request, i int) bool {
	id := pending[i].TaskID
	mask := uint64(len(s.slots) - 1)
	for h := maphash.String(s.seed, id) & mask; ; h = (h + 1) & mask {
		switch j := s.slots[h]; {
		case j == 0:
			s.slots[h] = int32(i + 1)
			return true
		case pending[j-1].TaskID == id:
			return false
		}
	}
}

// appendShapeKey appends a key identifying the shape of r. It avoids fmt:
// it runs once per pending request.
func appendShapeKey(b []byte, r *Request) []byte {
	b = appendString(b, r.Group)
	b = strconv.AppendInt(b, int64(r.Requirements.CPU), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(r.Requirements.MemoryMiB), 10)
	b = append(b, 'p')
	for _, port := range r.StaticPorts {
		b = appendString(b, port)
	}
	b = append(b, 's')
	for _, s := range r.Strategy {
		b = appendString(appendString(b, s.Type), s.Field)
	}
	b = append(b, 'c')
	for _, c := range r.Constraints {
		b = appendString(appendString(b, c.Type), c.Expression)
	}
	return b
}

// appendString appends s length-prefixed, so that keys built of several
// strings cannot collide.
func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}
