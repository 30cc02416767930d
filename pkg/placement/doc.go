// Package placement is the placement language of task definitions,
// services and run-task requests: ECS's placement strategies (binpack,
// spread, random), placement constraints (distinctInstance, memberOf) and
// the cluster query language of memberOf expressions.
//
// It is a leaf: standard library only, so that pkg/model can validate with
// it when things are registered and pkg/scheduler can evaluate with it when
// tasks are placed, and both read placements the same way. Types are
// matched case-insensitively and Canonical spells them one way.
//
//	errs := placement.Validate(
//		[]placement.Strategy{{Type: "Spread", Field: "attribute:zone"}},
//		[]placement.Constraint{{Type: "memberOf", Expression: "attribute:os =="}},
//	)
//	// errs: placementConstraints[0].expression: memberOf expression at
//	// column 16: expected value after '=='
//
// ParseExpression parses a memberOf expression into an Expr, which the
// scheduler evaluates against its nodes through the Node interface.
package placement
