package placement

import "strings"

// Canonical names of the strategy and constraint types. Users may write
// them in any case ("BinPack", "MEMBEROF"); Canonical spells them like this.
const (
	Binpack = "binpack"
	Spread  = "spread"
	Random  = "random"

	DistinctInstance = "distinctInstance"
	MemberOf         = "memberOf"
)

// Canonical strategy fields: binpack by cpu or memory, spread by instance
// (ECS also accepts "host" for it) or by attribute:NAME.
const (
	FieldCPU        = "cpu"
	FieldMemory     = "memory"
	FieldInstanceID = "instanceId"
	fieldHost       = "host"
	attributePrefix = "attribute:"
)

// MaxStrategies is ECS's limit on placement strategies per task or service.
const MaxStrategies = 5

// Strategy is ECS's placement strategy: type binpack (field cpu|memory),
// spread (field instanceId|host|attribute:NAME) or random. The JSON shape
// is the ECS API's; pkg/model uses this type as model.PlacementStrategy.
type Strategy struct {
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
}

// Constraint is ECS's placement constraint: type distinctInstance, or
// memberOf with an expression in the cluster query language (see
// ParseExpression). pkg/model uses this type as model.PlacementConstraint.
type Constraint struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

var (
	strategyTypes   = []string{Binpack, Spread, Random}
	constraintTypes = []string{DistinctInstance, MemberOf}
)

// canonicalName returns the name of names that s spells in some case, or s
// unchanged when it spells none.
func canonicalName(s string, names []string) string {
	for _, n := range names {
		if strings.EqualFold(s, n) {
			return n
		}
	}
	return s
}

// Canonical returns s with its type and field spelled the canonical way:
// "BinPack"/"CPU" become "binpack"/"cpu", spread's "host" becomes
// "instanceId" and "Attribute:zone" becomes "attribute:zone" (the
// attribute's name keeps its case). Values Validate rejects come back as
// they are.
func (s Strategy) Canonical() Strategy {
	s.Type = canonicalName(s.Type, strategyTypes)
	switch s.Type {
	case Binpack:
		s.Field = canonicalName(s.Field, []string{FieldCPU, FieldMemory})
	case Spread:
		switch {
		case strings.EqualFold(s.Field, FieldInstanceID), strings.EqualFold(s.Field, fieldHost):
			s.Field = FieldInstanceID
		case hasAttributePrefix(s.Field):
			s.Field = attributePrefix + s.Field[len(attributePrefix):]
		}
	}
	return s
}

// SpreadAttribute returns NAME for a spread by attribute:NAME (in any case
// of the prefix), and false for anything else.
func (s Strategy) SpreadAttribute() (string, bool) {
	if !strings.EqualFold(s.Type, Spread) || !hasAttributePrefix(s.Field) || len(s.Field) == len(attributePrefix) {
		return "", false
	}
	return s.Field[len(attributePrefix):], true
}

func hasAttributePrefix(f string) bool {
	return len(f) >= len(attributePrefix) && strings.EqualFold(f[:len(attributePrefix)], attributePrefix)
}

// Canonical returns c with its type spelled the canonical way
// ("memberof" becomes "memberOf"); an unknown type comes back as it is.
func (c Constraint) Canonical() Constraint {
	c.Type = canonicalName(c.Type, constraintTypes)
	return c
}
