package model

import "github.com/orch-project/orch/pkg/placement"

// PlacementConstraint is ECS's: type distinctInstance or memberOf (with
// expression). The placement language owns it; see ValidatePlacement.
type PlacementConstraint = placement.Constraint

// PlacementStrategy is ECS's: type binpack (field cpu|memory), spread
// (field instanceId|host|attribute:NAME) or random.
type PlacementStrategy = placement.Strategy

// Placement constraint and strategy types, in their canonical spelling
// (users may write them in any case).
const (
	ConstraintDistinctInstance = placement.DistinctInstance
	ConstraintMemberOf         = placement.MemberOf
	StrategyBinpack            = placement.Binpack
	StrategySpread             = placement.Spread
	StrategyRandom             = placement.Random
)

// ValidatePlacement checks placement strategies and constraints the way
// the scheduler reads them (see placement.Validate), as FieldErrors with
// paths such as "placementConstraints[0].expression". Task definitions,
// services and run-task requests are all checked with it when they are
// registered, so a bad placement never reaches the scheduler.
func ValidatePlacement(strategies []PlacementStrategy, constraints []PlacementConstraint) FieldErrors {
	return fieldErrors(placement.Validate(strategies, constraints))
}

// fieldErrors turns the placement language's errors into FieldErrors.
func fieldErrors(es placement.Errors) FieldErrors {
	var out FieldErrors
	for _, e := range es {
		out.Add(e.Path, e.Message)
	}
	return out
}
