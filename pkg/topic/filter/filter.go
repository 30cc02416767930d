package filter

import (
	"fmt"
)

// Scope says what a policy is matched against: the message attributes or
// the message body (SNS's FilterPolicyScope).
type Scope int

const (
	ScopeMessageAttributes Scope = iota // SNS FilterPolicyScope "MessageAttributes" (the default)
	ScopeMessageBody                    // "MessageBody"
)

// String returns the SNS attribute value for s.
func (s Scope) String() string {
	switch s {
	case ScopeMessageAttributes:
		return "MessageAttributes"
	case ScopeMessageBody:
		return "MessageBody"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope maps the attribute value ("" = MessageAttributes) to a Scope,
// or an error naming the allowed values. Like SNS it is case-sensitive.
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "MessageAttributes":
		return ScopeMessageAttributes, nil
	case "MessageBody":
		return ScopeMessageBody, nil
	}
	return 0, &Error{Reason: fmt.Sprintf("FilterPolicyScope %q is not valid: use MessageAttributes or MessageBody", s)}
}

// Attribute is one SNS message attribute as Publish received it.
type Attribute struct {
	DataType string // "String", "Number", "String.Array", "Binary" (may carry a custom suffix: "String.foo")
	Value    string // StringValue (for String.Array: the JSON array text); Binary attributes never match
}

// Message is what a policy is matched against.
type Message struct {
	Attributes map[string]Attribute
	Body       string // the Message text; with ScopeMessageBody a JSON object (non-JSON bodies never match)
}

// Error is a rejected policy. Reason is the text SNS would put after
// "Invalid parameter: FilterPolicy: ", with the key it concerns where there
// is one.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func errorf(format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Limits SNS enforces on a policy ("Filter policy constraints in Amazon SNS").
const (
	// MaxPolicyBytes is the largest policy text: 256 KB.
	MaxPolicyBytes = 256 * 1024
	// MaxKeys is the number of distinct leaf keys a policy may name.
	MaxKeys = 5
	// MaxCombinations bounds the policy's complexity (see complexity).
	MaxCombinations = 150
	// MaxDepth bounds how deeply policy objects and $or may nest. SNS
	// publishes no figure; the combination rule already caps a leaf's
	// depth (each level multiplies its count), so this only keeps empty
	// nested objects from recursing without bound.
	MaxDepth = 32
	// numericLimit is SNS's range for numbers in a policy: -1e9 to 1e9.
	numericLimit = 1e9
	// numericScale: SNS compares numbers to five decimal places.
	numericScale = 1e5
)

// Policy is a compiled filter policy: safe for concurrent use by many
// goroutines, and matching allocates nothing for attribute policies.
type Policy struct {
	scope Scope
	root  node
	trie  *trieNode // body scope: the distinct paths, to read the body once
	keys  int
	combo int
}

// Scope returns the scope the policy was compiled for.
func (p *Policy) Scope() Scope { return p.scope }

// Keys returns the number of distinct keys the policy names (at most 5).
func (p *Policy) Keys() int { return p.keys }

// Combinations returns the policy's complexity as SNS counts it (at most 150).
func (p *Policy) Combinations() int { return p.combo }
