package placement

import (
	"fmt"
	"strings"
)

// Error is a problem with one field of a placement, at a path such as
// "placementConstraints[0].expression" (ECS's field names, as in
// RunTask, CreateService and RegisterTaskDefinition). pkg/model turns it
// into a model.FieldError, which pkg/manifest turns into file:line:col.
type Error struct {
	Path    string
	Message string
	// Err is the cause when there is one: a *ParseError for expressions.
	Err error
}

func (e *Error) Error() string { return e.Path + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem Validate found; it is an error itself.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is and errors.As see each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns nil when es is empty, so that a nil Errors never hides in a
// non-nil error interface.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

func (es *Errors) add(path, format string, args ...any) {
	*es = append(*es, &Error{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Placement is a valid placement, ready for the scheduler: strategies
// and constraints in canonical form, memberOf expressions parsed.
type Placement struct {
	Strategies  []Strategy
	Constraints []ParsedConstraint
}

// ParsedConstraint is a constraint in canonical form with its memberOf
// expression parsed (Expr is nil for distinctInstance).
type ParsedConstraint struct {
	Constraint
	Expr Expr
}

// Parse checks placement strategies and constraints and returns them ready
// for the scheduler; see Validate for the rules. When it returns errors,
// the Placement is incomplete.
func Parse(strategies []Strategy, constraints []Constraint) (Placement, Errors) {
	var errs Errors
	pl := Placement{Strategies: make([]Strategy, len(strategies)), Constraints: make([]ParsedConstraint, len(constraints))}
	if len(strategies) > MaxStrategies {
		errs.add("placementStrategy", "has %d strategies; ECS allows at most %d", len(strategies), MaxStrategies)
	}
	for i, s := range strategies {
		pl.Strategies[i] = s.Canonical()
		validateStrategy(&errs, elem{"placementStrategy", i}, pl.Strategies[i])
	}
	for i, c := range constraints {
		c = c.Canonical()
		pl.Constraints[i] = ParsedConstraint{Constraint: c, Expr: validateConstraint(&errs, elem{"placementConstraints", i}, c)}
	}
	return pl, errs
}

// Validate checks placement strategies and constraints exactly as the
// scheduler reads them: types and fields in any case, at most
// MaxStrategies strategies, and every memberOf expression parsed. The
// control plane calls it when a service is created and when tasks are run
// (ValidateTaskDefinition when a task definition is registered), so a bad
// placement is rejected there instead of leaving tasks pending. It returns
// nil when all is well.
func Validate(strategies []Strategy, constraints []Constraint) Errors {
	_, errs := Parse(strategies, constraints)
	return errs
}

// ValidateTaskDefinition checks a task definition's placement constraints.
// ECS allows only memberOf there (distinctInstance needs the other tasks of
// a service or run-task call, which a task definition does not know).
func ValidateTaskDefinition(constraints []Constraint) Errors {
	var errs Errors
	for i, c := range constraints {
		at := elem{"placementConstraints", i}
		switch c = c.Canonical(); c.Type {
		case MemberOf:
			validateConstraint(&errs, at, c)
		case DistinctInstance:
			errs.add(at.path("type"), "distinctInstance is not allowed in a task definition (ECS allows it on services and run-task only); only memberOf is")
		case "":
			errs.add(at.path("type"), "required: memberOf (the only type allowed in a task definition)")
		default:
			errs.add(at.path("type"), "must be memberOf (the only type allowed in a task definition), got %q%s", c.Type, didYouMean(c.Type, []string{MemberOf}))
		}
	}
	return errs
}

// elem is the i-th element of a list field, e.g. placementStrategy[1]. It
// builds paths only for errors, so that valid placements (the scheduler
// parses every shape's) cost no formatting.
type elem struct {
	list string
	i    int
}

// path returns the path of field of the element: "placementStrategy[1].field".
func (e elem) path(field string) string { return fmt.Sprintf("%s[%d].%s", e.list, e.i, field) }

// validateStrategy checks one strategy in canonical form.
func validateStrategy(errs *Errors, at elem, s Strategy) {
	switch s.Type {
	case Binpack:
		switch s.Field {
		case FieldCPU, FieldMemory:
		case "":
			errs.add(at.path("field"), "required for binpack: cpu or memory")
		default:
			errs.add(at.path("field"), "binpack needs field cpu or memory, got %q", s.Field)
		}
	case Spread:
		if _, ok := s.SpreadAttribute(); ok || s.Field == FieldInstanceID {
			return
		}
		if s.Field == "" {
			errs.add(at.path("field"), "required for spread: instanceId, host or attribute:NAME")
		} else {
			errs.add(at.path("field"), "spread needs field instanceId, host or attribute:NAME, got %q", s.Field)
		}
	case Random:
		// ECS ignores the field of a random strategy.
	case "":
		errs.add(at.path("type"), "required: binpack, spread or random")
	default:
		errs.add(at.path("type"), "unknown strategy type %q%s; use binpack, spread or random", s.Type, didYouMean(s.Type, strategyTypes))
	}
}

// validateConstraint checks one constraint in canonical form and returns
// its parsed expression (nil for distinctInstance and invalid ones).
func validateConstraint(errs *Errors, at elem, c Constraint) Expr {
	switch c.Type {
	case DistinctInstance:
	case MemberOf:
		if strings.TrimSpace(c.Expression) == "" {
			errs.add(at.path("expression"), "required for memberOf: a cluster query expression, e.g. attribute:arch == arm64")
			return nil
		}
		e, err := ParseExpression(c.Expression)
		if err != nil {
			*errs = append(*errs, &Error{Path: at.path("expression"), Message: err.Error(), Err: err})
		}
		return e
	case "":
		errs.add(at.path("type"), "required: distinctInstance or memberOf")
	default:
		errs.add(at.path("type"), "unknown constraint type %q%s; use distinctInstance or memberOf", c.Type, didYouMean(c.Type, constraintTypes))
	}
	return nil
}

// didYouMean suggests the name of names closest to a misspelt s (at most
// two edits away, ignoring case), as ` (did you mean "binpack"?)`, or "".
func didYouMean(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(s), strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (the names it compares are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
