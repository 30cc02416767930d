package filter

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, every rejection is a *Error with a
// reason, and a policy that parses matches any message (attributes, a
// String.Array, a body) without panicking, within its limits.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"customer_interests": ["rugby", "tennis"]}`,
		`{"a": [{"prefix": "x"}, {"suffix": "y"}, {"equals-ignore-case": "Z"}]}`,
		`{"a": [{"anything-but": ["x", "y"]}, {"anything-but": {"prefix": "p"}}, {"anything-but": 5}]}`,
		`{"a": [{"numeric": [">", 0, "<=", 150]}, {"numeric": ["=", 3.5]}, 12, true, null]}`,
		`{"a": [{"exists": false}], "ip": [{"cidr": "10.0.0.0/24"}, {"cidr": "2001:db8::/32"}]}`,
		`{"source": ["s"], "$or": [{"m": ["x"]}, {"t": ["y"], "$or": [{"i": [1]}, {"j": [2]}]}]}`,
		`{"Records": {"eventName": [{"prefix": "ObjectCreated:"}], "s3": {"object": {"size": [{"numeric": [">", 1]}]}}}}`,
		`{"$or": [{"numeric": 1}, {"prefix": "a"}]}`,
		`{"a": {}}`, `{"a": []}`, `[]`, `{`, ``,
	}
	for i, s := range seeds {
		f.Add(s, i%2 == 0, `["x", 1, true, null, "10.0.0.1"]`, `{"a": "x", "Records": [{"eventName": "ObjectCreated:Put"}]}`)
	}
	f.Fuzz(func(t *testing.T, policy string, bodyScope bool, array, bodyText string) {
		scope := ScopeMessageAttributes
		if bodyScope {
			scope = ScopeMessageBody
		}
		p, err := Parse(policy, scope)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Reason == "" {
				t.Fatalf("Parse(%q) error %v is not a *Error with a reason", policy, err)
			}
			return
		}
		if p != nil && (p.Keys() > MaxKeys || p.Combinations() > MaxCombinations) {
			t.Fatalf("Parse(%q) accepted %d keys, %d combinations", policy, p.Keys(), p.Combinations())
		}
		msg := Message{Body: bodyText, Attributes: map[string]Attribute{}}
		for _, k := range []string{"a", "ip", "source", "m", "i", "customer_interests", "Records"} {
			msg.Attributes[k] = Attribute{DataType: "String.Array", Value: array}
		}
		msg.Attributes["t"] = Attribute{DataType: "Number", Value: array}
		msg.Attributes["j"] = Attribute{DataType: "String", Value: array}
		p.Match(msg)
		p.Match(Message{Body: array})
		p.Match(Message{})
	})
}

// FuzzValidJSON holds validJSON to encoding/json's verdict.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a": [1, -0.5e+3, true, false, null, "x\u00e9\n"]}`, `{"a":}`, `[1,]`, `01`, `"\x"`, `  "a"  `, `1.`, `-`, `[[[`, "\"\x01\"", `{"a" 1}`, `nul`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", s, got, want)
		}
	})
}
