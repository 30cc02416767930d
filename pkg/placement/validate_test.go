package placement

import (
	"errors"
	"slices"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		strategies  []Strategy
		constraints []Constraint
		want        string // Errors.Error(), "" when valid
	}{
		{"nothing", nil, nil, ""},
		{"every valid form",
			[]Strategy{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "host"}, {Type: "binpack", Field: "memory"}, {Type: "random"}},
			[]Constraint{{Type: "distinctInstance"}, {Type: "memberOf", Expression: "attribute:os == linux"}}, ""},
		{"types and fields in any case",
			[]Strategy{{Type: "BinPack", Field: "CPU"}, {Type: "SPREAD", Field: "InstanceId"}, {Type: "spread", Field: "Attribute:zone"}},
			[]Constraint{{Type: "DISTINCTINSTANCE"}, {Type: "memberof", Expression: "attribute:os == linux"}}, ""},
		{"bad expression", nil, []Constraint{{Type: "memberOf", Expression: "attribute:os =="}},
			"placementConstraints[0].expression: memberOf expression at column 16: expected value after '=='"},
		{"empty expression", nil, []Constraint{{Type: "memberOf", Expression: "  "}},
			"placementConstraints[0].expression: required for memberOf: a cluster query expression, e.g. attribute:arch == arm64"},
		{"unknown constraint with a suggestion", nil, []Constraint{{Type: "distinctInstace"}},
			`placementConstraints[0].type: unknown constraint type "distinctInstace" (did you mean "distinctInstance"?); use distinctInstance or memberOf`},
		{"unknown constraint", nil, []Constraint{{Type: "sameHost"}},
			`placementConstraints[0].type: unknown constraint type "sameHost"; use distinctInstance or memberOf`},
		{"missing constraint type", nil, []Constraint{{}},
			"placementConstraints[0].type: required: distinctInstance or memberOf"},
		{"unknown strategy with a suggestion", []Strategy{{Type: "bnpack", Field: "cpu"}}, nil,
			`placementStrategy[0].type: unknown strategy type "bnpack" (did you mean "binpack"?); use binpack, spread or random`},
		{"unknown strategy", []Strategy{{Type: "pack"}}, nil,
			`placementStrategy[0].type: unknown strategy type "pack"; use binpack, spread or random`},
		{"missing strategy type", []Strategy{{Field: "cpu"}}, nil,
			"placementStrategy[0].type: required: binpack, spread or random"},
		{"bad binpack field", []Strategy{{Type: "binpack", Field: "gpu"}}, nil,
			`placementStrategy[0].field: binpack needs field cpu or memory, got "gpu"`},
		{"missing binpack field", []Strategy{{Type: "binpack"}}, nil,
			"placementStrategy[0].field: required for binpack: cpu or memory"},
		{"bad spread field", []Strategy{{Type: "spread", Field: "attribute:"}}, nil,
			`placementStrategy[0].field: spread needs field instanceId, host or attribute:NAME, got "attribute:"`},
		{"missing spread field", []Strategy{{Type: "spread"}}, nil,
			"placementStrategy[0].field: required for spread: instanceId, host or attribute:NAME"},
		{"too many strategies", slices.Repeat([]Strategy{{Type: "random"}}, 6), nil,
			"placementStrategy: has 6 strategies; ECS allows at most 5"},
		{"every problem is reported",
			[]Strategy{{Type: "random"}, {Type: "binpack", Field: "disk"}},
			[]Constraint{{Type: "memberOf", Expression: "os == linux"}, {Type: "distinctInstance"}, {Type: "memberOf", Expression: "attribute:x exists &&"}},
			`placementStrategy[1].field: binpack needs field cpu or memory, got "disk"; ` +
				"placementConstraints[0].expression: memberOf expression at column 1: unknown subject 'os'; use attribute:NAME, task:group or instanceId; " +
				"placementConstraints[2].expression: memberOf expression at column 22: expected a condition such as attribute:os == linux, found end of expression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := Validate(tc.strategies, tc.constraints).Err(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

func TestValidateKeepsTheParseError(t *testing.T) {
	err := Validate(nil, []Constraint{{Type: "memberOf", Expression: "attribute:os == linux )"}}).Err()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Column != 23 {
		t.Fatalf("errors.As(%v, *ParseError) = %v (column %d), want column 23", err, pe != nil, pe.Column)
	}
	if !errors.Is(err, ErrInvalidExpression) {
		t.Errorf("%v does not wrap ErrInvalidExpression", err)
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want Strategy }{
		{Strategy{"BINPACK", "Memory"}, Strategy{"binpack", "memory"}},
		{Strategy{"Spread", "HOST"}, Strategy{"spread", "instanceId"}},
		{Strategy{"spread", "instanceid"}, Strategy{"spread", "instanceId"}},
		{Strategy{"spread", "ATTRIBUTE:Zone"}, Strategy{"spread", "attribute:Zone"}},
		{Strategy{"Random", "ignored"}, Strategy{"random", "ignored"}},
		{Strategy{"pack", "CPU"}, Strategy{"pack", "CPU"}}, // unknown: unchanged
	} {
		if got := tc.in.Canonical(); got != tc.want {
			t.Errorf("%+v.Canonical() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"MemberOf", "memberOf"}, {"distinctinstance", "distinctInstance"}, {"sameHost", "sameHost"},
	} {
		if got := (Constraint{Type: tc.in}).Canonical().Type; got != tc.want {
			t.Errorf("Constraint{Type: %q}.Canonical().Type = %q, want %q", tc.in, got, tc.want)
		}
	}
}
