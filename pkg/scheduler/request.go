package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// maxStrategies is ECS's limit on placement strategies per task or service.
const maxStrategies = 5

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
	expr    Expr
	err     error
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
	chain, err := parseStrategies(r.Strategy)
	if err != nil {
		sh.invalid = err
		return sh
	}
	sh.chain = chain
	for _, c := range r.Constraints {
		switch {
		case strings.EqualFold(c.Type, model.ConstraintDistinctInstance):
			sh.distinct = true
		case strings.EqualFold(c.Type, model.ConstraintMemberOf):
			m := p.parseMemberOf(c.Expression)
			if m.err != nil {
				sh.invalid = fmt.Errorf("invalid placement constraint memberOf(%s): %w", m.text, m.err)
				return sh
			}
			sh.memberOf = append(sh.memberOf, m)
		default:
			sh.invalid = fmt.Errorf("unknown placement constraint type %q; use distinctInstance or memberOf", c.Type)
			return sh
		}
	}
	return sh
}

func (p *pass) parseMemberOf(text string) *memberOf {
	if m := p.memberOf[text]; m != nil {
		return m
	}
	m := &memberOf{text: text}
	m.expr, m.err = ParseExpression(text)
	if m.err == nil {
		m.dynamic = m.expr.usesTaskGroup()
		if !m.dynamic {
			m.cache = make([]int8, len(p.nodes))
		}
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
		return m.expr.eval(&p.nodes[i])
	}
	switch m.cache[i] {
	case 1:
		return true
	case 2:
		return false
	}
	ok := m.expr.eval(&p.nodes[i])
	m.cache[i] = 2
	if ok {
		m.cache[i] = 1
	}
	return ok
}

// parseStrategies turns ECS placement strategies into a key chain. The
// default is ECS RunTask's [spread(attribute:ecs.availability-zone),
// spread(instanceId)] without the zone part, since Orch nodes have no
// zone. A seeded random key always ends the chain so that remaining ties
// are broken randomly (like ECS) rather than by node order, which would
// pile every group's first task onto the same node.
func parseStrategies(ss []model.PlacementStrategy) ([]sortKey, error) {
	if len(ss) > maxStrategies {
		return nil, fmt.Errorf("%d placement strategies given; ECS allows at most %d", len(ss), maxStrategies)
	}
	var chain []sortKey
	for i, s := range ss {
		var k sortKey
		switch {
		case strings.EqualFold(s.Type, model.StrategyBinpack):
			switch {
			case strings.EqualFold(s.Field, "cpu"):
				k.kind = keyBinpackCPU
			case strings.EqualFold(s.Field, "memory"):
				k.kind = keyBinpackMemory
			default:
				return nil, fmt.Errorf("placementStrategy[%d]: binpack field %q: use cpu or memory", i, s.Field)
			}
		case strings.EqualFold(s.Type, model.StrategySpread):
			f := s.Field
			switch {
			case strings.EqualFold(f, "instanceId"), strings.EqualFold(f, "host"):
				k.kind = keySpreadNode
			case len(f) > len("attribute:") && strings.EqualFold(f[:len("attribute:")], "attribute:"):
				k = sortKey{kind: keySpreadAttr, attr: f[len("attribute:"):]}
			default:
				return nil, fmt.Errorf("placementStrategy[%d]: spread field %q: use instanceId, host or attribute:NAME", i, f)
			}
		case strings.EqualFold(s.Type, model.StrategyRandom):
			k.kind = keyRandom
		default:
			return nil, fmt.Errorf("placementStrategy[%d]: unknown type %q: use binpack, spread or random", i, s.Type)
		}
		chain = append(chain, k)
		if k.kind == keyRandom {
			// Nothing after random can break a tie.
			return chain, nil
		}
	}
	if len(chain) == 0 {
		chain = []sortKey{{kind: keySpreadNode}}
	}
	return append(chain, sortKey{kind: keyRandom}), nil
}

// Validate checks placement strategies and constraints the way Schedule
// will read them, so the API can reject a task or service up front. Errors
// wrap model.ErrInvalid.
func Validate(strategy []model.PlacementStrategy, constraints []model.PlacementConstraint) error {
	var errs []error
	if _, err := parseStrategies(strategy); err != nil {
		errs = append(errs, err)
	}
	for i, c := range constraints {
		switch {
		case strings.EqualFold(c.Type, model.ConstraintDistinctInstance):
		case strings.EqualFold(c.Type, model.ConstraintMemberOf):
			if _, err := ParseExpression(c.Expression); err != nil {
				errs = append(errs, fmt.Errorf("placementConstraints[%d]: %w", i, err))
			}
		default:
			errs = append(errs, fmt.Errorf("placementConstraints[%d]: unknown type %q: use distinctInstance or memberOf", i, c.Type))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", model.ErrInvalid, errors.Join(errs...))
}
