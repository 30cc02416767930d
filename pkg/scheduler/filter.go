package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// The filter pipeline, in order. A node is counted under the first filter
// that rejects it (like swarmkit's pipeline and the Kubernetes framework's
// per-node Status), so the counts add up to the nodes checked:
//
//  1. heartbeating   "is not heartbeating"
//  2. status         "is draining" (or "is <status>")
//  3. memberOf       "does not match memberOf(EXPR)", per constraint in order
//  4. distinctInstance "already runs a task of group G (distinctInstance)"
//  5. host ports     "has port tcp/80 in use"
//  6. cpu            "lack N cpu units"
//  7. memory         "lack N MiB memory"
//
// Cheap, static reasons come first; resources last, because "lacks memory"
// is the least surprising answer and the one most likely to change soon.
type failKind uint8

const (
	failNone failKind = iota
	failDead
	failStatus
	failMemberOf
	failDistinct
	failPort
	failCPU
	failMemory
)

// failure is the first filter that rejected a node; idx is the memberOf
// constraint or the port that failed.
type failure struct {
	kind failKind
	idx  int32
}

// check runs the filter pipeline for shape sh, the current one, on node i.
func (p *pass) check(sh *shape, i int32) failure {
	h := &p.hot[i]
	if h.down != failNone {
		return failure{kind: h.down}
	}
	for k, m := range sh.memberOf {
		if !p.matches(m, i) {
			return failure{failMemberOf, int32(k)}
		}
	}
	if sh.distinct && p.hosts(i) {
		return failure{kind: failDistinct}
	}
	if h.ports {
		for k, port := range sh.ports {
			if p.nodes[i].hasPort(port) {
				return failure{failPort, int32(k)}
			}
		}
	}
	// A zero requirement fits even on an over-committed node: it adds
	// nothing to it.
	if sh.need.CPU > 0 && h.free.CPU < sh.need.CPU {
		return failure{kind: failCPU}
	}
	if sh.need.MemoryMiB > 0 && h.free.MemoryMiB < sh.need.MemoryMiB {
		return failure{kind: failMemory}
	}
	return failure{}
}

// reason is a rejection as counted in Unplaced.Reasons (key) and as said
// in the message for one node or several.
type reason struct {
	key, one, many string
}

func (p *pass) reason(sh *shape, i int32, f failure) reason {
	switch f.kind {
	case failDead:
		return reason{"is not heartbeating", "is not heartbeating", "are not heartbeating"}
	case failStatus:
		s := strings.ToLower(p.nodes[i].info.Status)
		return reason{"is " + s, "is " + s, "are " + s}
	case failMemberOf:
		e := strings.TrimSpace(sh.memberOf[f.idx].text)
		return reason{"does not match memberOf(" + e + ")", "does not match memberOf(" + e + ")", "do not match memberOf(" + e + ")"}
	case failDistinct:
		g := fmt.Sprintf("a task of group %s (distinctInstance)", sh.groupName)
		return reason{"already runs " + g, "already runs " + g, "already run " + g}
	case failPort:
		port := sh.ports[f.idx]
		return reason{"has port " + port + " in use", "has port " + port + " in use", "have port " + port + " in use"}
	case failCPU:
		s := fmt.Sprintf("%d cpu units", sh.need.CPU)
		return reason{"lack " + s, "lacks " + s, "lack " + s}
	case failMemory:
		s := fmt.Sprintf("%d MiB memory", sh.need.MemoryMiB)
		return reason{"lack " + s, "lacks " + s, "lack " + s}
	}
	// Only reachable if a node passed every filter, which explain is never
	// asked about; say so rather than invent a reason.
	return reason{"was not chosen", "was not chosen", "were not chosen"}
}

// explain counts, over all nodes, the first filter rejecting shape sh.
func (p *pass) explain(sh *shape) Unplaced {
	u := Unplaced{NodesChecked: len(p.nodes), Reasons: map[string]int{}}
	if len(p.nodes) == 0 {
		u.Message = "no node can take it: no nodes registered"
		return u
	}
	// Count failures first and render each distinct one once: formatting a
	// reason per node would dominate the cost on a large full cluster.
	type tally struct {
		node int32 // a node that failed this way (its status names the reason)
		n    int
	}
	byFailure := map[failure]*tally{}
	byStatus := map[string]*tally{}
	for i := range p.nodes {
		f := p.check(sh, int32(i))
		var t *tally
		if f.kind == failStatus {
			st := p.nodes[i].info.Status
			if t = byStatus[st]; t == nil {
				t = &tally{node: int32(i)}
				byStatus[st] = t
			}
		} else if t = byFailure[f]; t == nil {
			t = &tally{node: int32(i)}
			byFailure[f] = t
		}
		t.n++
	}
	seen := map[string]reason{}
	add := func(f failure, t *tally) {
		r := p.reason(sh, t.node, f)
		seen[r.key] = r
		u.Reasons[r.key] += t.n
	}
	for f, t := range byFailure {
		add(f, t)
	}
	for _, t := range byStatus {
		add(failure{kind: failStatus}, t)
	}
	u.Message = message(len(p.nodes), u.Reasons, seen)
	return u
}

// message renders "no node can take it: 3 nodes checked, 2 lack 4096 MiB
// memory, 1 is draining": reasons by count, most frequent first, then by
// text; verbs agree with the count.
func message(checked int, counts map[string]int, texts map[string]reason) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if counts[keys[a]] != counts[keys[b]] {
			return counts[keys[a]] > counts[keys[b]]
		}
		return keys[a] < keys[b]
	})
	var b strings.Builder
	b.WriteString("no node can take it: ")
	if checked == 1 {
		b.WriteString("1 node checked")
	} else {
		fmt.Fprintf(&b, "%d nodes checked", checked)
	}
	for _, k := range keys {
		n := counts[k]
		text := texts[k].many
		if n == 1 {
			text = texts[k].one
		}
		fmt.Fprintf(&b, ", %d %s", n, text)
	}
	return b.String()
}

// invalidUnplaced explains a request that no node could ever take because
// the request itself is wrong (bad expression, unknown strategy, ...).
func invalidUnplaced(err error) Unplaced {
	return Unplaced{Message: "cannot be placed: " + err.Error()}
}
