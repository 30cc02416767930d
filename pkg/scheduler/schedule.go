package scheduler

import (
	"maps"
	"strconv"
)

// Outcome markers in Schedule's per-request outcome slice; node indexes
// are >= 0.
const (
	outUnplaced  = -1
	outDuplicate = -2
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
	p := newPass(snap, seed)

	var shapes []*shape
	byKey := map[string]*shape{}
	seen := make(map[string]struct{}, len(pending))
	outcome := make([]int32, len(pending))
	var key []byte
	for i := range pending {
		r := &pending[i]
		if _, dup := seen[r.TaskID]; dup {
			outcome[i] = outDuplicate
			continue
		}
		seen[r.TaskID] = struct{}{}
		key = appendShapeKey(key[:0], r)
		sh := byKey[string(key)]
		if sh == nil {
			sh = p.newShape(len(shapes), r)
			shapes = append(shapes, sh)
			byKey[string(key)] = sh
		}
		sh.reqs = append(sh.reqs, i)
	}

	why := make([]*Unplaced, len(pending))
	for _, sh := range shapes {
		p.schedule(sh, outcome, why)
	}

	res := Result{Placements: make([]Placement, 0, len(pending))}
	for i, o := range outcome {
		switch {
		case o >= 0:
			res.Placements = append(res.Placements, Placement{TaskID: pending[i].TaskID, Node: snap.Nodes[o].Name})
		case o == outUnplaced:
			u := *why[i]
			u.TaskID = pending[i].TaskID
			u.Reasons = maps.Clone(u.Reasons) // callers may keep or edit each one
			res.Unplaced = append(res.Unplaced, u)
		}
	}
	return res
}

// schedule places the tasks of one shape, recording each request's node
// in outcome or its explanation in why.
func (p *pass) schedule(sh *shape, outcome []int32, why []*Unplaced) {
	unplace := func(reqs []int, u *Unplaced) {
		for _, r := range reqs {
			outcome[r], why[r] = outUnplaced, u
		}
	}
	if sh.invalid != nil {
		u := invalidUnplaced(sh.invalid)
		unplace(sh.reqs, &u)
		return
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
			unplace(sh.reqs[k:], &u)
			return
		}
		outcome[r] = i
	}
}

// appendShapeKey appends a key identifying the shape of r. Strings are
// length-prefixed so that no two shapes share a key. It avoids fmt: it runs
// once per pending request.
func appendShapeKey(b []byte, r *Request) []byte {
	str := func(b []byte, s string) []byte {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		return append(b, s...)
	}
	b = str(b, r.Group)
	b = strconv.AppendInt(b, int64(r.Requirements.CPU), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(r.Requirements.MemoryMiB), 10)
	b = append(b, 'p')
	for _, port := range r.StaticPorts {
		b = str(b, port)
	}
	b = append(b, 's')
	for _, s := range r.Strategy {
		b = str(str(b, s.Type), s.Field)
	}
	b = append(b, 'c')
	for _, c := range r.Constraints {
		b = str(str(b, c.Type), c.Expression)
	}
	return b
}
