package placement_test

import (
	"fmt"

	"github.com/orch-project/orch/pkg/placement"
)

func ExampleParseExpression() {
	_, err := placement.ParseExpression("attribute:os == linux && task:group != ")
	fmt.Println(err)
	e, _ := placement.ParseExpression("attribute:ecs.instance-type =~ t3.* and not task:group == service:db")
	fmt.Println(e)
	// Output:
	// memberOf expression at column 40: expected value after '!='
	// attribute:ecs.instance-type =~ t3.* && !task:group == service:db
}

func ExampleValidate() {
	errs := placement.Validate(
		[]placement.Strategy{{Type: "Spread", Field: "attribute:zone"}, {Type: "binpak", Field: "memory"}},
		[]placement.Constraint{{Type: "memberOf", Expression: "attribute:os =="}},
	)
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// placementStrategy[1].type: unknown strategy type "binpak" (did you mean "binpack"?); use binpack, spread or random
	// placementConstraints[0].expression: memberOf expression at column 16: expected value after '=='
}
