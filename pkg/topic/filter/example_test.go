package filter_test

import (
	"fmt"

	"github.com/orch-project/orch/pkg/topic/filter"
)

func ExampleParse() {
	policy, err := filter.Parse(`{
		"store": ["example_corp"],
		"price_usd": [{"numeric": [">=", 100]}],
		"customer_interests": [{"prefix": "rug"}]
	}`, filter.ScopeMessageAttributes)
	if err != nil {
		panic(err)
	}
	msg := filter.Message{Attributes: map[string]filter.Attribute{
		"store":              {DataType: "String", Value: "example_corp"},
		"price_usd":          {DataType: "Number", Value: "210.75"},
		"customer_interests": {DataType: "String.Array", Value: `["soccer", "rugby"]`},
	}}
	fmt.Println(policy.Match(msg))

	msg.Attributes["price_usd"] = filter.Attribute{DataType: "Number", Value: "99.5"}
	fmt.Println(policy.Match(msg))

	_, err = filter.Parse(`{"a": [{"regex": "x"}]}`, filter.ScopeMessageAttributes)
	fmt.Println("Invalid parameter: FilterPolicy:", err)
	// Output:
	// true
	// false
	// Invalid parameter: FilterPolicy: Unrecognized match type regex (key "a"): use prefix, suffix, anything-but, equals-ignore-case, numeric, exists or cidr
}

func ExamplePolicy_Match_body() {
	policy, _ := filter.Parse(`{"Records": {"eventName": [{"prefix": "ObjectCreated:"}]}}`, filter.ScopeMessageBody)
	fmt.Println(policy.Match(filter.Message{Body: `{"Records": [{"eventName": "ObjectCreated:Put"}]}`}))
	fmt.Println(policy.Match(filter.Message{Body: `{"Records": [{"eventName": "ObjectRemoved:Delete"}]}`}))
	// Output:
	// true
	// false
}
