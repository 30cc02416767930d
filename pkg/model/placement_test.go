package model

import (
	"errors"
	"testing"
)

// TestPlacementIsValidatedAtRegistration checks that task definitions,
// services and run-task input (ValidatePlacement) reject a bad placement
// with the field path and the placement language's message, and accept
// types in any case.
func TestPlacementIsValidatedAtRegistration(t *testing.T) {
	type placement struct {
		strategies  []PlacementStrategy
		constraints []PlacementConstraint
	}
	for _, tc := range []struct {
		name   string
		in     placement
		want   string // every error, "; "-separated; "" when valid
		wantTD string // the task definition's errors (constraints only); "" when valid
	}{
		{name: "none"},
		{name: "good expression",
			in: placement{constraints: []PlacementConstraint{{Type: ConstraintMemberOf, Expression: "attribute:os == linux && task:group != service:db"}}}},
		{name: "types in any case",
			in: placement{
				strategies:  []PlacementStrategy{{Type: "SPREAD", Field: "Attribute:zone"}, {Type: "BinPack", Field: "Memory"}, {Type: "Random"}},
				constraints: []PlacementConstraint{{Type: "MEMBEROF", Expression: "attribute:gpu exists"}},
			}},
		{name: "bad expression",
			in:     placement{constraints: []PlacementConstraint{{Type: ConstraintMemberOf, Expression: "attribute:os == linux &&"}}},
			want:   "placementConstraints[0].expression: memberOf expression at column 25: expected a condition such as attribute:os == linux, found end of expression",
			wantTD: "placementConstraints[0].expression: memberOf expression at column 25: expected a condition such as attribute:os == linux, found end of expression"},
		{name: "regular expression that does not compile",
			in:     placement{constraints: []PlacementConstraint{{Type: "memberof", Expression: "attribute:type =~ '['"}}},
			want:   "placementConstraints[0].expression: memberOf expression at column 19: invalid regular expression '[' after '=~': error parsing regexp: missing closing ]: `[)$`",
			wantTD: "placementConstraints[0].expression: memberOf expression at column 19: invalid regular expression '[' after '=~': error parsing regexp: missing closing ]: `[)$`"},
		{name: "distinctInstance in any case",
			in:     placement{constraints: []PlacementConstraint{{Type: "distinctinstance"}}},
			wantTD: "placementConstraints[0].type: distinctInstance is not allowed in a task definition (ECS allows it on services and run-task only); only memberOf is"},
		{name: "unknown types with did-you-mean",
			in: placement{
				strategies:  []PlacementStrategy{{Type: "sprad", Field: "instanceId"}},
				constraints: []PlacementConstraint{{Type: "memberOff", Expression: "attribute:os == linux"}},
			},
			want: `placementStrategy[0].type: unknown strategy type "sprad" (did you mean "spread"?); use binpack, spread or random; ` +
				`placementConstraints[0].type: unknown constraint type "memberOff" (did you mean "memberOf"?); use distinctInstance or memberOf`,
			wantTD: `placementConstraints[0].type: must be memberOf (the only type allowed in a task definition), got "memberOff" (did you mean "memberOf"?)`},
		{name: "bad fields",
			in:   placement{strategies: []PlacementStrategy{{Type: StrategyBinpack, Field: "disk"}, {Type: StrategySpread}}},
			want: `placementStrategy[0].field: binpack needs field cpu or memory, got "disk"; placementStrategy[1].field: required for spread: instanceId, host or attribute:NAME`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errText(ValidatePlacement(tc.in.strategies, tc.in.constraints).Err()); got != tc.want {
				t.Errorf("ValidatePlacement\n got  %q\n want %q", got, tc.want)
			}

			svc := &Service{ServiceName: "web", TaskDefinition: "web", PlacementStrategy: tc.in.strategies, PlacementConstraints: tc.in.constraints}
			err := svc.Validate()
			if got := errText(err); got != tc.want {
				t.Errorf("Service.Validate\n got  %q\n want %q", got, tc.want)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Service.Validate error %v does not match ErrInvalid (the API answers 400 for it)", err)
			}

			td := validTD()
			td.PlacementConstraints = tc.in.constraints
			if got := errText(td.Validate()); got != tc.wantTD {
				t.Errorf("TaskDefinition.Validate\n got  %q\n want %q", got, tc.wantTD)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
