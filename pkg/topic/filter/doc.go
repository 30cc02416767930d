// Package filter implements Amazon SNS subscription filter policies as
// pure functions: Parse validates a policy the way SNS does (its operators,
// the 5-key and 150-combination limits, the 256 KB size) and compiles it;
// Policy.Match decides whether one published message passes.
//
// A policy is a JSON object whose keys name message attributes
// (ScopeMessageAttributes, the default) or properties of a JSON message
// body (ScopeMessageBody, where objects nest). Each key lists the values
// it accepts; the message passes when every key accepts (AND) and, for a
// key, when any listed value matches (OR). "$or" expresses OR across keys.
// Values are exact strings or numbers, true, false, null, or one operator:
//
//	{"prefix": "bas"}               {"suffix": ".png"}
//	{"equals-ignore-case": "Rugby"} {"anything-but": ["rugby", "tennis"]}
//	{"anything-but": {"prefix": "order-"}}
//	{"numeric": [">=", 100, "<", 200]}
//	{"exists": true}                {"cidr": "10.0.0.0/24"}
//
// Numbers compare numerically to five decimal places within -1e9..1e9,
// as SNS documents; String.Array attributes and body arrays match through
// any element (anything-but: only when no element is excluded). The
// package uses the standard library only and matching a compiled
// attribute policy allocates nothing, so a topic can evaluate hundreds of
// subscriptions per message cheaply. docs/topic-filters.md has the syntax
// by example and the choices made where SNS's documentation is silent.
package filter
