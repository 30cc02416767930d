package scheduler

import (
	"fmt"
	"slices"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/placement"
)

// keyKind is one ordering criterion; a shape's chain of them is compared
// lexicographically, smaller first.
type keyKind uint8

const (
	keyBinpackCPU    keyKind = iota // remaining cpu units
	keyBinpackMemory                // remaining MiB
	keySpreadNode                   // tasks of the group on the node
	keySpreadAttr                   // tasks of the group on nodes with the same attribute value
	keyRandom                       // a seeded random clock (see placer)
)

type sortKey struct {
	kind keyKind
	attr string // for keySpreadAttr
}

// memberOf is one parsed memberOf expression, shared by every shape that
// uses the same text.
type memberOf struct {
	text    string
	expr    placement.Expr
	dynamic bool // depends on task:group, so it is evaluated every time
	// cache holds per-node results of static expressions: 0 unknown,
	// 1 match, 2 no match. Evaluated lazily so sampling stays cheap.
	cache []int8
	// pool lists the eligible nodes matching a static expression; built on
	// first use (see sampler).
	pool   []int32
	pooled bool
}

// shape is a set of pending requests that are interchangeable for the
// scheduler: same group, requirements, ports, strategy and constraints.
// Filters and orderings are set up once per shape, not once per task.
type shape struct {
	index     int
	reqs      []int32 // indexes into pending
	size      int     // number of requests
	group     int32   // interned
	groupName string
	need      model.Resources
	ports     []string // normalized, sorted
	distinct  bool
	memberOf  []*memberOf
	chain     []sortKey // never empty; ends with keyRandom
	invalid   error     // the request cannot be placed anywhere
}

// newShape validates the first request of a shape and prepares its filters
// and ordering.
func (p *pass) newShape(index int, r *Request) *shape {
	sh := &shape{index: index, group: p.intern(r.Group), groupName: r.Group, need: r.Requirements}
	if r.Requirements.CPU < 0 || r.Requirements.MemoryMiB < 0 {
		sh.invalid = fmt.Errorf("requirements must not be negative (cpu %d, memory %d MiB)", r.Requirements.CPU, r.Requirements.MemoryMiB)
		return sh
	}
	for _, port := range r.StaticPorts {
		sh.ports = append(sh.ports, normalizePort(port))
	}
	slices.Sort(sh.ports)
	for i := 1; i < len(sh.ports); i++ {
		if sh.ports[i] == sh.ports[i-1] {
			sh.invalid = fmt.Errorf("host port %s is mapped twice in the task", sh.ports[i])
			return sh
		}
	}
	// Placements are validated when tasks and services are registered;
	// parsing again here explains tasks stored before that, in the same
	// words as the API.
	pl, errs := placement.Parse(r.Strategy, r.Constraints)
	if errs != nil {
		sh.invalid = errs
		return sh
	}
	sh.chain = strategyChain(pl.Strategies)
	for _, c := range pl.Constraints {
		switch c.Type {
		case placement.DistinctInstance:
			sh.distinct = true
		case placement.MemberOf:
			sh.memberOf = append(sh.memberOf, p.memberOfExpr(c.Expression, c.Expr))
		}
	}
	return sh
}

// memberOfExpr returns the pass-wide state of a memberOf expression, so
// that shapes with the same text share its per-node results.
func (p *pass) memberOfExpr(text string, e placement.Expr) *memberOf {
	if m := p.memberOf[text]; m != nil {
		return m
	}
	m := &memberOf{text: text, expr: e, dynamic: e.UsesTaskGroup()}
	if !m.dynamic {
		m.cache = make([]int8, len(p.nodes))
	}
	p.memberOf[text] = m
	return m
}

// matchPool returns the eligible nodes matching static expression m.
func (p *pass) matchPool(m *memberOf) []int32 {
	if !m.pooled {
		m.pooled = true
		for _, i := range p.eligible {
			if p.matches(m, i) {
				m.pool = append(m.pool, i)
			}
		}
	}
	return m.pool
}

// matches evaluates a memberOf expression on node i.
func (p *pass) matches(m *memberOf, i int32) bool {
	if m.dynamic {
		return m.expr.Eval(&p.nodes[i])
	}
	switch m.cache[i] {
	case 1:
		return true
	case 2:
		return false
	}
	ok := m.expr.Eval(&p.nodes[i])
	m.cache[i] = 2
	if ok {
		m.cache[i] = 1
	}
	return ok
}

// strategyChain turns valid placement strategies (in canonical form) into
// a key chain. The default is ECS RunTask's
// [spread(attribute:ecs.availability-zone), spread(instanceId)] without the
// zone part, since Orch nodes have no zone. A seeded random key always ends
// the chain so that remaining ties are broken randomly (like ECS) rather
// than by node order, which would pile every group's first task onto the
// same node.
func strategyChain(ss []placement.Strategy) []sortKey {
	var chain []sortKey
	for _, s := range ss {
		var k sortKey
		switch s.Type {
		case placement.Binpack:
			k.kind = keyBinpackMemory
			if s.Field == placement.FieldCPU {
				k.kind = keyBinpackCPU
			}
		case placement.Spread:
			k.kind = keySpreadNode
			if name, ok := s.SpreadAttribute(); ok {
				k = sortKey{kind: keySpreadAttr, attr: name}
			}
		case placement.Random:
			k.kind = keyRandom
		}
		chain = append(chain, k)
		if k.kind == keyRandom {
			// Nothing after random can break a tie.
			return chain
		}
	}
	if len(chain) == 0 {
		chain = []sortKey{{kind: keySpreadNode}}
	}
	return append(chain, sortKey{kind: keyRandom})
}
