package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Builders for messages: str, num and arr make one attribute each.
type attr struct {
	name string
	a    Attribute
}

func str(name, v string) attr { return attr{name, Attribute{DataType: "String", Value: v}} }
func num(name, v string) attr { return attr{name, Attribute{DataType: "Number", Value: v}} }
func arr(name, v string) attr { return attr{name, Attribute{DataType: "String.Array", Value: v}} }
func bin(name, v string) attr { return attr{name, Attribute{DataType: "Binary", Value: v}} }

func attrs(as ...attr) Message {
	m := Message{Attributes: map[string]Attribute{}}
	for _, a := range as {
		m.Attributes[a.name] = a.a
	}
	return m
}

func body(s string) Message { return Message{Body: s} }

// A sample of these tables was compared by hand against moto 5.2.1's
// FilterPolicyMatcher and its policy validation (moto is an emulator; where
// it disagrees with AWS's documentation, the documentation wins here):
//   - a String attribute holding '["rugby"]' matches "rugby" in moto (it
//     decodes any value as JSON); SNS treats a String as one string.
//   - anything-but on a String.Array with one listed element matches in
//     moto; AWS's current "String value matching" page says it must not.
//   - anything-but {"suffix": ...} never matches in moto, and moto rejects
//     cidr ("Unrecognized match type cidr"); both are SNS operators.
//   - prefix/suffix never match String.Array elements in moto; AWS treats
//     each element as a separate string.
//   - moto compares numbers to six decimal places; AWS documents five
//     (150.000001 is 150 here).
//   - "exists": false matches a message without attributes in moto; AWS's
//     "Key matching" page says an empty attribute set does not match.
//   - exists true matches a body key holding null in moto; AWS requires a
//     non-null value.
//   - moto crashes (AttributeError) on $or inside a nested body object and
//     accepts empty value arrays; it also counts $or combinations by
//     multiplying by depth, rejecting AWS's own 7-combination $or example.
type matchCase struct {
	name   string
	scope  Scope
	policy string
	msg    Message
	want   bool
}

const (
	attrScope = ScopeMessageAttributes
	bodyScope = ScopeMessageBody
)

func runMatch(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.policy, c.scope)
			if err != nil {
				t.Fatalf("Parse(%s, %s): %v", c.policy, c.scope, err)
			}
			if got := p.Match(c.msg); got != c.want {
				t.Errorf("policy %s (%s)\nmessage %+v\nmatch = %v, want %v", c.policy, c.scope, c.msg, got, c.want)
			}
		})
	}
}

// "String value matching" (Amazon SNS developer guide): exact matching.
func TestExactStringMatching(t *testing.T) {
	p := `{"customer_interests": ["rugby", "tennis"]}`
	runMatch(t, []matchCase{
		{"string rugby", attrScope, p, attrs(str("customer_interests", "rugby")), true},
		{"string tennis", attrScope, p, attrs(str("customer_interests", "tennis")), true},
		{"array holding both", attrScope, p, attrs(arr("customer_interests", `["rugby", "tennis"]`)), true},
		{"array with one of them", attrScope, p, attrs(arr("customer_interests", `["soccer", "tennis"]`)), true},
		{"string baseball", attrScope, p, attrs(str("customer_interests", "baseball")), false},
		{"array baseball", attrScope, p, attrs(arr("customer_interests", `["baseball"]`)), false},
		{"case-sensitive", attrScope, p, attrs(str("customer_interests", "Rugby")), false},
		{"missing attribute", attrScope, p, attrs(str("store", "rugby")), false},
		{"no attributes", attrScope, p, Message{}, false},
		{"custom String type", attrScope, p, attrs(attr{"customer_interests", Attribute{DataType: "String.interest", Value: "rugby"}}), true},
		{"binary never matches", attrScope, p, attrs(bin("customer_interests", "rugby")), false},
		{"number attribute is not a string", attrScope, `{"price": ["100"]}`, attrs(num("price", "100")), false},
		{"array text in a String attribute is one string", attrScope, p, attrs(str("customer_interests", `["rugby"]`)), false},
		{"escaped array element", attrScope, `{"q": ["say \"hi\""]}`, attrs(arr("q", `["say \"hi\""]`)), true},
		{"body rugby", bodyScope, p, body(`{"customer_interests": "rugby"}`), true},
		{"body tennis", bodyScope, p, body(`{"customer_interests": "tennis"}`), true},
		{"body array", bodyScope, p, body(`{"customer_interests": ["soccer", "rugby"]}`), true},
		{"body baseball", bodyScope, p, body(`{"customer_interests": "baseball"}`), false},
		{"body not JSON", bodyScope, p, body(`customer_interests=rugby`), false},
		{"body JSON but not an object", bodyScope, p, body(`["rugby"]`), false},
		{"body truncated", bodyScope, p, body(`{"customer_interests": "rugby"`), false},
		{"body key escaped", bodyScope, p, body(`{"customer\u005finterests": "rugby"}`), true},
		{"body value escaped", bodyScope, p, body(`{"customer_interests": "rug\u0062y"}`), true},
		{"body nested key is not top-level", bodyScope, p, body(`{"x": {"customer_interests": "rugby"}}`), false},
		{"body ignores attributes", bodyScope, p, Message{Attributes: attrs(str("customer_interests", "rugby")).Attributes, Body: `{}`}, false},
		{"attributes ignore the body", attrScope, p, body(`{"customer_interests": "rugby"}`), false},
	})
}

// "String value matching": prefix, suffix, equals-ignore-case.
func TestPrefixSuffixIgnoreCase(t *testing.T) {
	prefix := `{"customer_interests": [{"prefix": "bas"}]}`
	suffix := `{"customer_interests": [{"suffix": "ball"}]}`
	eic := `{"customer_interests": [{"equals-ignore-case": "tennis"}]}`
	runMatch(t, []matchCase{
		{"prefix baseball", attrScope, prefix, attrs(str("customer_interests", "baseball")), true},
		{"prefix basketball", attrScope, prefix, attrs(str("customer_interests", "basketball")), true},
		{"prefix rugby", attrScope, prefix, attrs(str("customer_interests", "rugby")), false},
		{"prefix array element", attrScope, prefix, attrs(arr("customer_interests", `["rugby", "basketball"]`)), true},
		{"prefix body", bodyScope, prefix, body(`{"customer_interests": "baseball"}`), true},
		{"prefix body number", bodyScope, `{"n": [{"prefix": "1"}]}`, body(`{"n": 12}`), false},
		{"suffix baseball", attrScope, suffix, attrs(str("customer_interests", "baseball")), true},
		{"suffix rugby", attrScope, suffix, attrs(str("customer_interests", "rugby")), false},
		{"suffix body", bodyScope, suffix, body(`{"customer_interests": "basketball"}`), true},
		{"ignore-case TENNIS", attrScope, eic, attrs(str("customer_interests", "TENNIS")), true},
		{"ignore-case Tennis", attrScope, eic, attrs(str("customer_interests", "Tennis")), true},
		{"ignore-case rugby", attrScope, eic, attrs(str("customer_interests", "rugby")), false},
		{"ignore-case body", bodyScope, eic, body(`{"customer_interests": "tEnNiS"}`), true},
	})
}

// "String value matching" and "Numeric value matching": anything-but.
// AWS's current page says a String.Array matches only when none of its
// elements is listed; an older revision of the page said any unlisted
// element sufficed. We follow the current page. (moto 5.2 compares the
// characters of the array text instead, and so disagrees with both.)
func TestAnythingBut(t *testing.T) {
	list := `{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`
	single := `{"customer_interests": [{"anything-but": "rugby"}]}`
	nums := `{"price": [{"anything-but": [100, 500]}]}`
	prefix := `{"event": [{"anything-but": {"prefix": "order-"}}]}`
	suffix := `{"event": [{"anything-but": {"suffix": "-cancelled"}}]}`
	orMissing := `{"customer_interests": [{"anything-but": ["rugby"]}, {"exists": false}]}`
	runMatch(t, []matchCase{
		{"list baseball", attrScope, list, attrs(str("customer_interests", "baseball")), true},
		{"list football", attrScope, list, attrs(str("customer_interests", "football")), true},
		{"list rugby", attrScope, list, attrs(str("customer_interests", "rugby")), false},
		{"list array none listed", attrScope, list, attrs(arr("customer_interests", `["baseball", "football"]`)), true},
		{"list array one listed", attrScope, list, attrs(arr("customer_interests", `["rugby", "baseball"]`)), false},
		{"list missing attribute", attrScope, list, attrs(str("store", "x")), false},
		{"list body", bodyScope, list, body(`{"customer_interests": "baseball"}`), true},
		{"list body array one listed", bodyScope, list, body(`{"customer_interests": ["rugby", "baseball"]}`), false},
		{"list body null", bodyScope, list, body(`{"customer_interests": null}`), false},
		{"single other", attrScope, single, attrs(str("customer_interests", "tennis")), true},
		{"single same", attrScope, single, attrs(str("customer_interests", "rugby")), false},
		{"numbers other", attrScope, nums, attrs(num("price", "101")), true},
		{"numbers listed", attrScope, nums, attrs(num("price", "100")), false},
		{"numbers listed other spelling", attrScope, nums, attrs(num("price", "1e2")), false},
		{"numbers body", bodyScope, nums, body(`{"price": 500.0}`), false},
		{"numbers body other", bodyScope, nums, body(`{"price": 499.99999}`), true},
		{"prefix other", attrScope, prefix, attrs(str("event", "data-entry")), true},
		{"prefix excluded", attrScope, prefix, attrs(str("event", "order-cancelled")), false},
		{"prefix body", bodyScope, prefix, body(`{"event": "order-placed"}`), false},
		{"suffix other", attrScope, suffix, attrs(str("event", "order-placed")), true},
		{"suffix excluded", attrScope, suffix, attrs(str("event", "order-cancelled")), false},
		{"with exists false: missing", attrScope, orMissing, attrs(str("store", "x")), true},
		{"with exists false: other", attrScope, orMissing, attrs(str("customer_interests", "tennis")), true},
		{"with exists false: excluded", attrScope, orMissing, attrs(str("customer_interests", "rugby")), false},
	})
}

// "Numeric value matching": exact numbers and ranges, Number attributes.
func TestNumericMatching(t *testing.T) {
	exact := `{"price_usd": [{"numeric": ["=", 301.5]}]}`
	plain := `{"price_usd": [301.5]}`
	below := `{"price_usd": [{"numeric": ["<", 0]}]}`
	between := `{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}`
	runMatch(t, []matchCase{
		{"= 301.5", attrScope, exact, attrs(num("price_usd", "301.5")), true},
		{"= 3.015e2", attrScope, exact, attrs(num("price_usd", "3.015e2")), true},
		{"= 300", attrScope, exact, attrs(num("price_usd", "300")), false},
		{"plain number", attrScope, plain, attrs(num("price_usd", "301.50")), true},
		{"plain number vs String attribute", attrScope, plain, attrs(str("price_usd", "301.5")), false},
		{"plain number in String.Array", attrScope, plain, attrs(arr("price_usd", `[1, 301.5]`)), true},
		{"numeric vs String attribute", attrScope, exact, attrs(str("price_usd", "301.5")), false},
		{"custom Number type", attrScope, exact, attrs(attr{"price_usd", Attribute{DataType: "Number.float", Value: "301.5"}}), true},
		{"< 0: -1", attrScope, below, attrs(num("price_usd", "-1")), true},
		{"< 0: 0", attrScope, below, attrs(num("price_usd", "0")), false},
		{"between: 100", attrScope, between, attrs(num("price_usd", "100")), true},
		{"between: 150 inclusive", attrScope, between, attrs(num("price_usd", "150")), true},
		{"between: 0 exclusive", attrScope, between, attrs(num("price_usd", "0")), false},
		{"between: 150.00001", attrScope, between, attrs(num("price_usd", "150.00001")), false},
		{"five decimals: 150.000001 rounds to 150", attrScope, between, attrs(num("price_usd", "150.000001")), true},
		{">= inclusive", attrScope, `{"p": [{"numeric": [">=", 10]}]}`, attrs(num("p", "10")), true},
		{"> exclusive", attrScope, `{"p": [{"numeric": [">", 10]}]}`, attrs(num("p", "10")), false},
		{"<= inclusive", attrScope, `{"p": [{"numeric": ["<=", 10]}]}`, attrs(num("p", "10")), true},
		{">= and < : lower bound", attrScope, `{"p": [{"numeric": [">=", 10, "<", 20]}]}`, attrs(num("p", "10")), true},
		{">= and < : upper bound", attrScope, `{"p": [{"numeric": [">=", 10, "<", 20]}]}`, attrs(num("p", "20")), false},
		{"out of SNS range never matches", attrScope, `{"p": [{"numeric": [">", 0]}]}`, attrs(num("p", "2e9")), false},
		{"not a number", attrScope, `{"p": [{"numeric": [">", 0]}]}`, attrs(num("p", "NaN")), false},
		{"body number", bodyScope, between, body(`{"price_usd": 149.5}`), true},
		{"body string is not a number", bodyScope, between, body(`{"price_usd": "149.5"}`), false},
		{"body array any element", bodyScope, between, body(`{"price_usd": [500, 20]}`), true},
	})
}

// "Key matching": exists.
func TestExists(t *testing.T) {
	yes := `{"store": [{"exists": true}]}`
	no := `{"store": [{"exists": false}]}`
	interests := arr("customer_interests", `["baseball", "basketball"]`)
	runMatch(t, []matchCase{
		{"true: present", attrScope, yes, attrs(str("store", "fans"), interests), true},
		{"true: absent", attrScope, yes, attrs(interests), false},
		{"true: body present", bodyScope, yes, body(`{"store": "fans", "customer_interests": ["baseball", "basketball"]}`), true},
		{"true: body absent", bodyScope, yes, body(`{"customer_interests": ["baseball", "basketball"]}`), false},
		{"true: body null", bodyScope, yes, body(`{"store": null}`), false},
		{"true: body empty array", bodyScope, yes, body(`{"store": []}`), false},
		{"true: body object is not a leaf", bodyScope, yes, body(`{"store": {"name": "fans"}}`), false},
		{"true: binary is ignored", attrScope, yes, attrs(bin("store", "AAEC")), false},
		{"false: present", attrScope, no, attrs(str("store", "fans"), interests), false},
		{"false: absent", attrScope, no, attrs(interests), true},
		{"false: no attributes at all", attrScope, no, Message{}, false},
		{"false: body present", bodyScope, no, body(`{"store": "fans"}`), false},
		{"false: body absent", bodyScope, no, body(`{"customer_interests": ["baseball", "basketball"]}`), true},
		{"false: body not JSON", bodyScope, no, body(`store`), false},
	})
}

// "IP address matching" (cidr).
func TestCIDR(t *testing.T) {
	v4 := `{"source_ip": [{"cidr": "10.0.0.0/24"}]}`
	v6 := `{"source_ip": [{"cidr": "2001:db8::/32"}]}`
	runMatch(t, []matchCase{
		{"v4 first", attrScope, v4, attrs(str("source_ip", "10.0.0.0")), true},
		{"v4 last", attrScope, v4, attrs(str("source_ip", "10.0.0.255")), true},
		{"v4 outside", attrScope, v4, attrs(str("source_ip", "10.1.1.0")), false},
		{"v4 not an address", attrScope, v4, attrs(str("source_ip", "ten.0.0.1")), false},
		{"v4 mapped v6", attrScope, v4, attrs(str("source_ip", "::ffff:10.0.0.7")), true},
		{"v4 body", bodyScope, v4, body(`{"source_ip": "10.0.0.42"}`), true},
		{"v4 host bits in the policy", attrScope, `{"source_ip": [{"cidr": "10.0.0.9/24"}]}`, attrs(str("source_ip", "10.0.0.1")), true},
		{"v6 inside", attrScope, v6, attrs(str("source_ip", "2001:db8::1")), true},
		{"v6 outside", attrScope, v6, attrs(str("source_ip", "2001:db9::1")), false},
		{"v6 policy, v4 address", attrScope, v6, attrs(str("source_ip", "10.0.0.1")), false},
	})
}

// "AND/OR logic" and "Example filter policies".
func TestAndOr(t *testing.T) {
	and := `{"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}`
	standardOr := `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}`
	nestedOr := `{"source": ["aws.cloudwatch"], "$or": [
		{"metricName": ["CPUUtilization", "ReadLatency"]},
		{"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]}`
	bodyNestedOr := `{"detail": {"$or": [{"state": ["running"]}, {"code": [{"numeric": [">=", 500]}]}]}}`
	// A single alternative is not the operator: "$or" is then an ordinary key.
	oneAlt := `{"$or": [{"a": ["b"]}]}`
	runMatch(t, []matchCase{
		{"and both", attrScope, and, attrs(str("customer_interests", "rugby"), num("price_usd", "101")), true},
		{"and one", attrScope, and, attrs(str("customer_interests", "rugby"), num("price_usd", "99")), false},
		{"and body", bodyScope, and, body(`{"customer_interests": "rugby", "price_usd": 250}`), true},
		{"or first", attrScope, standardOr, attrs(str("source", "aws.cloudwatch"), str("metricName", "CPUUtilization")), true},
		{"or second", attrScope, standardOr, attrs(str("source", "aws.cloudwatch"), str("namespace", "AWS/EC2")), true},
		{"or neither", attrScope, standardOr, attrs(str("source", "aws.cloudwatch"), str("namespace", "AWS/RDS")), false},
		{"or without the AND key", attrScope, standardOr, attrs(str("metricName", "CPUUtilization")), false},
		{"or body", bodyScope, standardOr, body(`{"source": "aws.cloudwatch", "namespace": "AWS/EC2"}`), true},
		{"nested or: metricName", attrScope, nestedOr, attrs(str("source", "aws.cloudwatch"), str("metricName", "ReadLatency")), true},
		{"nested or: metricType+metricId", attrScope, nestedOr, attrs(str("source", "aws.cloudwatch"), str("metricType", "MetricType"), num("metricId", "4321")), true},
		{"nested or: metricType+spaceId", attrScope, nestedOr, attrs(str("source", "aws.cloudwatch"), str("metricType", "MetricType"), num("spaceId", "3000")), true},
		{"nested or: metricType alone", attrScope, nestedOr, attrs(str("source", "aws.cloudwatch"), str("metricType", "MetricType")), false},
		{"nested or: spaceId without metricType", attrScope, nestedOr, attrs(str("source", "aws.cloudwatch"), num("spaceId", "1000")), false},
		{"or inside a body object: state", bodyScope, bodyNestedOr, body(`{"detail": {"state": "running"}}`), true},
		{"or inside a body object: code", bodyScope, bodyNestedOr, body(`{"detail": {"code": 503}}`), true},
		{"or inside a body object: neither", bodyScope, bodyNestedOr, body(`{"detail": {"state": "stopped", "code": 200}}`), false},
		{"or inside a body object: top-level state", bodyScope, bodyNestedOr, body(`{"state": "running"}`), false},
		{"one alternative: key named $or", attrScope, `{"$or": ["x"]}`, attrs(str("$or", "x")), true},
	})
	if _, err := Parse(oneAlt, attrScope); err == nil {
		t.Errorf("Parse(%s) accepted an $or key whose values are objects without an operator", oneAlt)
	}
}

// "Example filter policies": the transaction message, as attributes and as body.
func TestExampleFilterPolicies(t *testing.T) {
	msg := attrs(
		arr("customer_interests", `["soccer", "rugby", "hockey"]`),
		str("store", "example_corp"),
		str("event", "order_placed"),
		num("price_usd", "210.75"),
	)
	bodyMsg := body(`{"customer_interests": ["soccer", "rugby", "hockey"], "store": "example_corp", "event": "order_placed", "price_usd": 210.75}`)
	accepts := `{"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
		"customer_interests": ["rugby", "football", "baseball"], "price_usd": [{"numeric": [">=", 100]}]}`
	rejects := []string{
		`{"store": ["example_corp"], "event": ["order_cancelled"]}`,
		`{"customer_interests": ["baseball"]}`,
		`{"price_usd": [{"numeric": ["<", 100]}]}`,
		`{"store": [{"prefix": "acme"}]}`,
		`{"event": [{"anything-but": ["order_placed", "order_shipped"]}]}`,
	}
	cases := []matchCase{
		{"attributes accepted", attrScope, accepts, msg, true},
		{"body accepted", bodyScope, accepts, bodyMsg, true},
	}
	for i, r := range rejects {
		cases = append(cases,
			matchCase{fmt.Sprintf("attributes rejected %d", i), attrScope, r, msg, false},
			matchCase{fmt.Sprintf("body rejected %d", i), bodyScope, r, bodyMsg, false})
	}
	runMatch(t, cases)
}

// "Payload-based filtering": nested keys, arrays of objects.
func TestNestedBody(t *testing.T) {
	s3 := `{"Records": {"eventName": [{"prefix": "ObjectCreated:"}], "s3": {"object": {"size": [{"numeric": [">", 1024]}]}}}}`
	runMatch(t, []matchCase{
		{"records put", bodyScope, s3, body(`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "a.png", "size": 2048}}}]}`), true},
		{"records small", bodyScope, s3, body(`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"size": 10}}}]}`), false},
		{"records delete", bodyScope, s3, body(`{"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"object": {"size": 4096}}}]}`), false},
		{"records second element", bodyScope, s3, body(`{"Records": [{"eventName": "x"}, {"eventName": "ObjectCreated:Copy", "s3": {"object": {"size": 5000}}}]}`), true},
		{"records object not array", bodyScope, s3, body(`{"Records": {"eventName": "ObjectCreated:Put", "s3": {"object": {"size": 5000}}}}`), true},
		{"path through a scalar", bodyScope, s3, body(`{"Records": "ObjectCreated:Put"}`), false},
		{"deep value", bodyScope, `{"a": {"b": {"c": {"d": ["x"]}}}}`, body(`{"a": {"b": {"c": {"d": "x", "e": 1}}}, "z": [1, {"q": "r"}]}`), true},
		{"nested arrays flatten", bodyScope, `{"a": [3]}`, body(`{"a": [[1, 2], [3]]}`), true},
		{"booleans and null", bodyScope, `{"ok": [true], "gone": [null]}`, body(`{"ok": true, "gone": null}`), true},
		{"false is not true", bodyScope, `{"ok": [true]}`, body(`{"ok": false}`), false},
		{"missing is not null", bodyScope, `{"gone": [null]}`, body(`{"here": 1}`), false},
		{"booleans in a String.Array", attrScope, `{"flags": [false]}`, attrs(arr("flags", `[true, false]`)), true},
		{"invalid String.Array", attrScope, `{"flags": ["a"]}`, attrs(arr("flags", `["a"`)), false},
		{"empty policy matches anything", bodyScope, `{}`, body(`not json`), true},
	})
}

// "Filter policy constraints": what Parse rejects, and why.
func TestInvalidPolicies(t *testing.T) {
	deep := strings.Repeat(`{"k": `, MaxDepth+1) + `["v"]` + strings.Repeat(`}`, MaxDepth+1)
	cases := []struct {
		name, policy string
		scope        Scope
		reason       string
	}{
		{"six keys", `{"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}`, attrScope, "Filter policy can not have more than 5 keys"},
		{"six keys across $or", `{"a": ["1"], "$or": [{"b": ["1"], "c": ["1"]}, {"d": ["1"], "e": ["1"], "f": ["1"]}]}`, attrScope, "more than 5 keys"},
		{"six nested leaves", `{"x": {"a": ["1"], "b": ["1"], "c": ["1"]}, "y": {"d": ["1"], "e": ["1"], "f": ["1"]}}`, bodyScope, "more than 5 keys"},
		{"151 combinations", `{"a": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151]}`, attrScope, "Filter policy is too complex"},
		{"product over 150", `{"a": [1,2,3,4,5,6], "b": [1,2,3,4,5], "c": [1,2,3,4,5,6]}`, attrScope, "too complex (180 combinations"},
		{"$or sum over 150", `{"a": [1,2,3,4,5,6,7,8,9,10], "$or": [{"b": [1,2,3,4,5,6,7,8]}, {"c": [1,2,3,4,5,6,7,8]}]}`, attrScope, "too complex (160 combinations"},
		{"nested depth multiplies", `{"a": {"b": {"c": {"d": {"e": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38]}}}}}`, bodyScope, "too complex (152 combinations"},
		{"unknown operator", `{"a": [{"regex": "x.*"}]}`, attrScope, "Unrecognized match type regex"},
		{"operator names are case-sensitive", `{"a": [{"Prefix": "x"}]}`, attrScope, "Unrecognized match type Prefix"},
		{"two operators in one object", `{"a": [{"prefix": "x", "suffix": "y"}]}`, attrScope, "exactly one operator"},
		{"prefix not a string", `{"a": [{"prefix": 1}]}`, attrScope, "prefix match pattern must be a string"},
		{"suffix not a string", `{"a": [{"suffix": ["x"]}]}`, attrScope, "suffix match pattern must be a string"},
		{"equals-ignore-case not a string", `{"a": [{"equals-ignore-case": true}]}`, attrScope, "equals-ignore-case match pattern must be a string"},
		{"exists not a boolean", `{"a": [{"exists": "true"}]}`, attrScope, "exists match pattern must be either true or false."},
		{"value is a string", `{"a": "x"}`, attrScope, `"a" must be an object or an array`},
		{"value is a number", `{"a": 5}`, attrScope, `"a" must be an object or an array`},
		{"empty array", `{"a": []}`, attrScope, "Empty arrays are not allowed"},
		{"empty anything-but", `{"a": [{"anything-but": []}]}`, attrScope, "Empty arrays are not allowed"},
		{"array inside the values", `{"a": [["x"]]}`, attrScope, "Match value must be String, number, true, false, or null"},
		{"nested in attribute scope", `{"a": {"b": ["x"]}}`, attrScope, "Filter policy scope MessageAttributes does not support nested filter policy"},
		{"nested too deep", deep, bodyScope, "nests too deeply"},
		{"empty nested object", `{"a": {}}`, bodyScope, `"a" must not be an empty object`},
		{"numeric operator unknown", `{"a": [{"numeric": ["!=", 1]}]}`, attrScope, "Unrecognized numeric range operator: !="},
		{"numeric value a string", `{"a": [{"numeric": ["<", "100"]}]}`, attrScope, "Value of < must be numeric"},
		{"numeric value missing", `{"a": [{"numeric": [">"]}]}`, attrScope, "Value of > must be numeric"},
		{"numeric not an array", `{"a": [{"numeric": 5}]}`, attrScope, "Value of numeric must be an array"},
		{"numeric empty", `{"a": [{"numeric": []}]}`, attrScope, "Value of numeric must be an array"},
		{"numeric operator not a string", `{"a": [{"numeric": [5, 5]}]}`, attrScope, "Invalid member in numeric match: 5"},
		{"numeric = then more", `{"a": [{"numeric": ["=", 1, "<", 5]}]}`, attrScope, "Too many elements in numeric expression"},
		{"numeric upper then lower", `{"a": [{"numeric": ["<", 1, ">", 0]}]}`, attrScope, "Too many elements in numeric expression"},
		{"numeric two lower bounds", `{"a": [{"numeric": [">", 1, ">", 5]}]}`, attrScope, "Bad numeric range operator: >"},
		{"numeric bottom above top", `{"a": [{"numeric": [">", 10, "<", 5]}]}`, attrScope, "Bottom must be less than top"},
		{"numeric three bounds", `{"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}`, attrScope, "Too many elements in numeric expression"},
		{"number out of range", `{"a": [1000000001]}`, attrScope, "out of range"},
		{"numeric bound out of range", `{"a": [{"numeric": ["<", -1e10]}]}`, attrScope, "out of range"},
		{"anything-but boolean", `{"a": [{"anything-but": [true]}]}`, attrScope, "Inside anything but list, start|null|boolean is not supported."},
		{"anything-but mixed", `{"a": [{"anything-but": ["x", 1]}]}`, attrScope, "all values must be strings or all numbers"},
		{"anything-but unknown pattern", `{"a": [{"anything-but": {"wildcard": "x*"}}]}`, attrScope, "Unsupported anything-but pattern: wildcard"},
		{"anything-but prefix not a string", `{"a": [{"anything-but": {"prefix": 1}}]}`, attrScope, "prefix match pattern must be a string"},
		{"anything-but empty prefix", `{"a": [{"anything-but": {"prefix": ""}}]}`, attrScope, "Null prefix not allowed"},
		{"anything-but boolean value", `{"a": [{"anything-but": false}]}`, attrScope, "Value of anything-but must be an array or single string/number value."},
		{"cidr without slash", `{"ip": [{"cidr": "10.0.0.1"}]}`, attrScope, "Malformed CIDR, one '/' required"},
		{"cidr bad address", `{"ip": [{"cidr": "10.0.0.300/24"}]}`, attrScope, "Nonstandard IP address: 10.0.0.300/24"},
		{"cidr not a string", `{"ip": [{"cidr": 10}]}`, attrScope, "cidr match pattern must be a string"},
		{"$or with operator objects", `{"$or": [{"numeric": 123}, {"prefix": "abc"}]}`, attrScope, "Value of numeric must be an array"},
		{"not JSON", `{"a": ["x"]`, attrScope, "Filter policy is not valid JSON"},
		{"trailing text", `{"a": ["x"]} {}`, attrScope, "Filter policy is not valid JSON"},
		{"not an object", `["a"]`, attrScope, "Filter policy must be a JSON object"},
		{"invalid UTF-8", "{\"a\": [\"\xff\"]}", attrScope, "valid UTF-8"},
		{"too large", `{"a": ["` + strings.Repeat("x", MaxPolicyBytes) + `"]}`, attrScope, "Filter policy is too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.policy, c.scope)
			if err == nil {
				t.Fatalf("Parse accepted %s (%s): %+v", c.policy, c.scope, p)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, want *filter.Error", err, err)
			}
			if !strings.Contains(fe.Reason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", fe.Reason, c.reason)
			}
		})
	}
}

// "Filter policy constraints" counts: 3x1x2 = 6 for flat keys, 72 for the
// nested example (depth multiplies), and the $or example's paths summed:
// (1x2) + (1x1x2) + (1x1x3) = 7.
func TestCombinationsAndKeys(t *testing.T) {
	cases := []struct {
		policy      string
		scope       Scope
		combo, keys int
	}{
		{`{"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"], "key_c": ["value_one", "value_two"]}`, attrScope, 6, 3},
		{`{"key_a": {"key_b": {"key_c": {"key_d": ["value_one", "value_two", "value_three", "value_four"]}}, "key_e": {"key_f": ["value_one", "value_two", "value_three"]}}}`, bodyScope, 72, 2},
		{`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]}`, attrScope, 7, 5},
		{`{"state": ["SUCCESS"], "severity": [{"exists": true}], "finding": {"region": [{"exists": true}], "account": [{"exists": true}]}}`, bodyScope, 1, 4},
		{`{"$or": [{"a": ["x"]}, {"a": ["y"], "b": ["z"]}]}`, attrScope, 2, 2},
		{`{"a": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150]}`, attrScope, 150, 1},
	}
	for _, c := range cases {
		p, err := Parse(c.policy, c.scope)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.policy, err)
			continue
		}
		if p.Combinations() != c.combo || p.Keys() != c.keys {
			t.Errorf("Parse(%s): %d combinations, %d keys; want %d, %d", c.policy, p.Combinations(), p.Keys(), c.combo, c.keys)
		}
	}
}

func TestParseScopeAndEmptyPolicy(t *testing.T) {
	for in, want := range map[string]Scope{"": ScopeMessageAttributes, "MessageAttributes": ScopeMessageAttributes, "MessageBody": ScopeMessageBody} {
		if got, err := ParseScope(in); err != nil || got != want {
			t.Errorf("ParseScope(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"messagebody", "Body", "MessageAttribute"} {
		_, err := ParseScope(bad)
		if err == nil || !strings.Contains(err.Error(), "use MessageAttributes or MessageBody") {
			t.Errorf("ParseScope(%q) error = %v, want one naming the allowed values", bad, err)
		}
	}
	p, err := Parse("  ", ScopeMessageBody)
	if err != nil || p != nil {
		t.Fatalf("Parse(blank) = %v, %v; want nil policy", p, err)
	}
	if !p.Match(body("anything")) {
		t.Error("a nil policy must match every message")
	}
	if _, err := Parse(`{"a": ["b"]}`, Scope(7)); err == nil {
		t.Error("Parse accepted an unknown scope")
	}
}

// Matching must not allocate for attribute policies: the topic evaluates
// every subscription's policy for every message.
func TestMatchAllocations(t *testing.T) {
	p, err := Parse(`{"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}], "customer_interests": ["rugby"], "price_usd": [{"numeric": [">=", 100]}], "ip": [{"cidr": "10.0.0.0/8"}]}`, attrScope)
	if err != nil {
		t.Fatal(err)
	}
	msg := attrs(arr("customer_interests", `["soccer", "rugby", "hockey"]`), str("store", "example_corp"),
		str("event", "order_placed"), num("price_usd", "210.75"), str("ip", "10.1.2.3"))
	if !p.Match(msg) {
		t.Fatal("the message should match")
	}
	if n := testing.AllocsPerRun(100, func() { p.Match(msg) }); n != 0 {
		t.Errorf("Match allocated %.1f times per call, want 0", n)
	}
}

// Large, deeply nested bodies are read in one pass: a 9,000-deep array and
// a 40,000-element array both resolve (a quadratic scan would take minutes).
func TestLargeBodies(t *testing.T) {
	deep := `{"a": ` + strings.Repeat("[", 9000) + `"x"` + strings.Repeat("]", 9000) + `}`
	var b strings.Builder
	b.WriteString(`{"skip": [`)
	for i := 0; i < 40000; i++ {
		b.WriteString(`{"a": "n"}, `)
	}
	b.WriteString(`1], "a": [`)
	for i := 0; i < 40000; i++ {
		b.WriteString(`"n", `)
	}
	b.WriteString(`"x"]}`)
	runMatch(t, []matchCase{
		{"deep array", bodyScope, `{"a": ["x"]}`, body(deep), true},
		{"deep array, other value", bodyScope, `{"a": ["y"]}`, body(deep), false},
		{"long arrays", bodyScope, `{"a": ["x"]}`, body(b.String()), true},
		{"long arrays anything-but", bodyScope, `{"a": [{"anything-but": "x"}]}`, body(b.String()), false},
	})
}

// validJSON agrees with encoding/json at its nesting limit too.
func TestValidJSONDepthLimit(t *testing.T) {
	for _, d := range []int{9999, 10000, 10001} {
		s := strings.Repeat("[", d) + strings.Repeat("]", d)
		if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
			t.Errorf("depth %d: validJSON = %v, encoding/json = %v", d, got, want)
		}
	}
}

// A key containing a dot is not a nested path.
func TestDottedKeyIsNotAPath(t *testing.T) {
	p := `{"a.b": ["x"], "a": {"b": ["y"]}}`
	runMatch(t, []matchCase{
		{"both", bodyScope, p, body(`{"a.b": "x", "a": {"b": "y"}}`), true},
		{"only the dotted key", bodyScope, p, body(`{"a.b": "x"}`), false},
		{"only the nested key", bodyScope, p, body(`{"a": {"b": "y"}}`), false},
		{"values swapped", bodyScope, p, body(`{"a.b": "y", "a": {"b": "x"}}`), false},
	})
	if pol, err := Parse(p, bodyScope); err != nil || pol.Keys() != 2 {
		t.Errorf("Parse(%s): %v keys, %v; want 2 keys", p, pol, err)
	}
}

// Body matching allocates nothing either (up to six values per key; a key
// reaching more spills them to the heap), and compiled policies can be
// shared by goroutines (run with -race).
func TestBodyAllocationsAndConcurrency(t *testing.T) {
	p, err := Parse(`{"store": ["example_corp"], "detail": {"price": [{"numeric": [">", 100]}], "tags": [{"prefix": "sale"}]}, "ip": [{"cidr": "10.0.0.0/8"}]}`, bodyScope)
	if err != nil {
		t.Fatal(err)
	}
	msg := body(`{"store": "example_corp", "ip": "10.9.8.7", "detail": {"price": 120.5, "tags": ["new", "sale-2026", "x", "y", "z", "w"]}}`)
	if !p.Match(msg) {
		t.Fatal("the message should match")
	}
	if n := testing.AllocsPerRun(100, func() { p.Match(msg) }); n != 0 {
		t.Errorf("Match allocated %.1f times per call, want 0", n)
	}
	other := body(`{"store": "example_corp", "ip": "10.9.8.7", "detail": {"price": 99, "tags": ["sale"]}}`)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				if !p.Match(msg) || p.Match(other) {
					done <- fmt.Errorf("iteration %d: wrong result under concurrency", i)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
