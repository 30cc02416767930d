package placement

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// fakeNode is a Node for expression tests.
type fakeNode struct {
	name   string
	attrs  map[string]string
	groups []string
}

func (f fakeNode) Attr(name string) (string, bool) {
	if name == "node" {
		return f.name, true
	}
	v, ok := f.attrs[name]
	return v, ok
}

func (f fakeNode) AnyGroup(fn func(string) bool) bool {
	for _, g := range f.groups {
		if fn(g) {
			return true
		}
	}
	return false
}

var exprNodes = []fakeNode{
	{name: "a", attrs: map[string]string{"os": "linux", "zone": "a", "gen": "9", "type": "t2.micro"}, groups: []string{"service:db"}},
	{name: "b", attrs: map[string]string{"os": "linux", "zone": "b", "gen": "10", "type": "xt2.micro", "gpu": "1"}, groups: []string{"service:web", "family:batch"}},
	{name: "c", attrs: map[string]string{"os": "windows", "zone": "c", "gen": "abc", "type": "m5.large", "label": "hello world"}},
}

// matching returns the names of exprNodes matching e, comma-separated.
func matching(e Expr) string {
	var out []string
	for _, nd := range exprNodes {
		if e.Eval(nd) {
			out = append(out, nd.name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestParseExpression(t *testing.T) {
	cases := []struct {
		expr  string
		str   string // canonical form
		match string // matching exprNodes
	}{
		{"attribute:os == linux", "attribute:os == linux", "a,b"},
		{"attribute:os equals linux", "attribute:os == linux", "a,b"},
		{"attribute:os != linux", "attribute:os != linux", "c"},
		{"attribute:os not_equals 'linux'", "attribute:os != linux", "c"},
		{"attribute:missing != x", "attribute:missing != x", "a,b,c"},
		{"attribute:missing == x", "attribute:missing == x", ""},
		// Numbers compare as numbers when both sides are numbers, else as strings.
		{"attribute:gen > 9", "attribute:gen > 9", "b,c"},
		{"attribute:gen >= 9 && attribute:gen < 10", "attribute:gen >= 9 && attribute:gen < 10", "a"},
		{"attribute:gen == 10.0", "attribute:gen == 10.0", "b"},
		{"attribute:gen greater_than_equal 10 and attribute:gen less_than_equal 10", "attribute:gen >= 10 && attribute:gen <= 10", "b"},
		{"attribute:gen less_than 10", "attribute:gen < 10", "a"},
		{"attribute:gen greater_than 9", "attribute:gen > 9", "b,c"},
		{"attribute:zone in (a, b)", "attribute:zone in (a, b)", "a,b"},
		{"attribute:zone in [a,c]", "attribute:zone in (a, c)", "a,c"},
		{"attribute:zone !in (a)", "attribute:zone !in (a)", "b,c"},
		{"attribute:zone not in (a, b)", "attribute:zone !in (a, b)", "c"},
		{"attribute:zone NOT_IN [c]", "attribute:zone !in (c)", "a,b"},
		{"attribute:gpu exists", "attribute:gpu exists", "b"},
		{"attribute:gpu !exists", "attribute:gpu !exists", "a,c"},
		{"attribute:gpu not_exists", "attribute:gpu !exists", "a,c"},
		{"not attribute:gpu exists", "!attribute:gpu exists", "a,c"},
		{"attribute:type =~ t2.*", "attribute:type =~ t2.*", "a"}, // anchored: not xt2.micro
		{"attribute:type matches '.*t2.*'", "attribute:type =~ .*t2.*", "a,b"},
		{`attribute:type !~ 't2\.micro'`, `attribute:type !~ t2\.micro`, "b,c"},
		{"attribute:type not_matches '(t2|m5)\\..*'", `attribute:type !~ '(t2|m5)\\..*'`, "b"},
		{"attribute:label == 'hello world'", "attribute:label == 'hello world'", "c"},
		{`attribute:label == "hello world"`, "attribute:label == 'hello world'", "c"},
		{`attribute:label != 'it\'s'`, `attribute:label != 'it\'s'`, "a,b,c"},
		{"task:group == service:db", "task:group == service:db", "a"},
		{"task:group != service:db", "task:group != service:db", "b,c"},
		{"task:group =~ service:.*", "task:group =~ service:.*", "a,b"},
		{"task:group exists", "task:group exists", "a,b"},
		{"task:group in (family:batch, x)", "task:group in (family:batch, x)", "b"},
		{"instanceId == b", "instanceId == b", "b"},
		{"ec2InstanceId in ['a', 'c']", "ec2InstanceId in (a, c)", "a,c"},
		{"attribute:node != a", "attribute:node != a", "b,c"},
		{"!(attribute:os == linux) || attribute:gpu exists", "!attribute:os == linux || attribute:gpu exists", "b,c"},
		// && binds tighter than ||.
		{"attribute:zone == a || attribute:zone == b && attribute:gpu !exists", "attribute:zone == a || attribute:zone == b && attribute:gpu !exists", "a"},
		{"(attribute:zone == a || attribute:zone == b) && attribute:gpu !exists", "(attribute:zone == a || attribute:zone == b) && attribute:gpu !exists", "a"},
		{"attribute:os == linux AND NOT (attribute:zone == a OR attribute:zone == c)", "attribute:os == linux && !(attribute:zone == a || attribute:zone == c)", "b"},
		{"  attribute:os==linux&&attribute:zone==b  ", "attribute:os == linux && attribute:zone == b", "b"},
		{"!!attribute:gpu exists", "!!attribute:gpu exists", "b"},
		{"not (attribute:zone == a && attribute:os == linux)", "!(attribute:zone == a && attribute:os == linux)", "b,c"},
		{"attribute:zone == a && (attribute:os == linux && attribute:gen < 10)", "attribute:zone == a && attribute:os == linux && attribute:gen < 10", "a"},
		{"attribute:x == and", "attribute:x == 'and'", ""},
		{"attribute:ecs.instance-type == t2.micro", "attribute:ecs.instance-type == t2.micro", ""},
	}
	for _, tc := range cases {
		e, err := ParseExpression(tc.expr)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tc.expr, err)
			continue
		}
		if got := e.String(); got != tc.str {
			t.Errorf("ParseExpression(%q).String() = %q, want %q", tc.expr, got, tc.str)
		}
		if got := matching(e); got != tc.match {
			t.Errorf("%q matches %q, want %q", tc.expr, got, tc.match)
		}
		// The canonical form parses back to itself.
		e2, err := ParseExpression(e.String())
		if err != nil || e2.String() != e.String() {
			t.Errorf("round trip of %q: %v, %v", e.String(), e2, err)
		}
	}
}

func TestParseExpressionErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"", "memberOf expression at column 1: expression is empty; write a condition such as attribute:os == linux"},
		{"   ", "memberOf expression at column 1: expression is empty; write a condition such as attribute:os == linux"},
		{"attribute:os == ", "memberOf expression at column 17: expected value after '=='"},
		{"attribute:os == )", "memberOf expression at column 17: expected value after '==', found ')'"},
		{"attribute:os", "memberOf expression at column 13: expected an operator (==, !=, >, >=, <, <=, =~, !~, exists, in, !in) after 'attribute:os', found end of expression"},
		{"attribute:os is linux", "memberOf expression at column 14: expected an operator (==, !=, >, >=, <, <=, =~, !~, exists, in, !in) after 'attribute:os', found 'is'"},
		{"attribute:os = linux", "memberOf expression at column 14: unexpected character '='"},
		{"os == linux", "memberOf expression at column 1: unknown subject 'os'; use attribute:NAME, task:group or instanceId"},
		{"attribute: == x", "memberOf expression at column 1: attribute name missing after 'attribute:'"},
		{"== x", "memberOf expression at column 1: expected a condition such as attribute:os == linux, found '=='"},
		{"attribute:os == linux &&", "memberOf expression at column 25: expected a condition such as attribute:os == linux, found end of expression"},
		{"(attribute:os == linux", "memberOf expression at column 23: expected ')' to close the '(' at column 1, found end of expression"},
		{"attribute:os == linux)", "memberOf expression at column 22: unexpected ')' without a matching '('"},
		{"attribute:os == linux attribute:gpu exists", "memberOf expression at column 23: unexpected 'attribute:gpu' after a complete condition; join conditions with && or ||"},
		{"attribute:os == linux & attribute:gpu exists", "memberOf expression at column 23: unexpected character '&'"},
		{"attribute:zone in a, b", "memberOf expression at column 19: expected '(' or '[' to start the list after 'in', found 'a'"},
		{"attribute:zone in (a b)", "memberOf expression at column 22: expected ',' or ')' in the list, found 'b'"},
		{"attribute:zone in (a, b]", "memberOf expression at column 24: expected ',' or ')' in the list, found ']'"},
		{"attribute:zone in ()", "memberOf expression at column 20: expected a value in the list after 'in', found ')'"},
		{"attribute:type =~ '('", "memberOf expression at column 19: invalid regular expression '(' after '=~': error parsing regexp: missing closing ): `^(?:()$`"},
		{"attribute:x == 'abc", "memberOf expression at column 16: unterminated quoted string; close it with '"},
		{"attribute:é == 'x' &&", "memberOf expression at column 22: expected a condition such as attribute:os == linux, found end of expression"},
		{strings.Repeat("(", 200) + "attribute:x exists" + strings.Repeat(")", 200), "memberOf expression at column 101: expression nested more than 100 levels deep"},
	}
	for _, tc := range cases {
		_, err := ParseExpression(tc.expr)
		if err == nil {
			t.Errorf("ParseExpression(%q) succeeded, want error %q", tc.expr, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseExpression(%q)\n got  %q\n want %q", tc.expr, err, tc.want)
		}
		if !errors.Is(err, ErrInvalidExpression) {
			t.Errorf("ParseExpression(%q) error does not wrap ErrInvalidExpression", tc.expr)
		}
	}
}

func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{
		"attribute:os == linux", "task:group != service:web && attribute:gen >= 10",
		"attribute:zone in (a, 'b c', \"d\")", "not (attribute:gpu exists or attribute:x !in [1,2])",
		"attribute:type =~ 't2\\..*'", "instanceId !~ x", "((attribute:a == 1))", "!attribute:a exists",
		"attribute:é == 'ü'", "attribute:x == 'a\\'b\\\\c'", "attribute:os ==", "(", ")", "'", "!in", "&&",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError: %v", err, err)
			}
			if pe.Column < 1 || pe.Column > utf8.RuneCountInString(s)+1 {
				t.Fatalf("column %d outside 1..%d for %q", pe.Column, utf8.RuneCountInString(s)+1, s)
			}
			return
		}
		for _, nd := range exprNodes {
			e.Eval(nd)
		}
		// The canonical form must parse back to the same expression.
		e2, err := ParseExpression(e.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", e.String(), s, err)
		}
		if e2.String() != e.String() {
			t.Fatalf("canonical form not stable: %q → %q", e.String(), e2.String())
		}
		if matching(e) != matching(e2) {
			t.Fatalf("canonical form %q of %q matches differently", e.String(), s)
		}
	})
}

func TestCanonicalFormOfDeepExpressions(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("attribute:a exists && ", 300) + "attribute:b exists",
		strings.Repeat("attribute:a exists || ", 300) + "attribute:b exists",
		strings.Repeat("!", 99) + "attribute:a exists",
		strings.Repeat("(", 99) + "attribute:a exists" + strings.Repeat(")", 99),
	} {
		e, err := ParseExpression(s)
		if err != nil {
			t.Fatalf("parse %.40q...: %v", s, err)
		}
		if _, err := ParseExpression(e.String()); err != nil {
			t.Errorf("canonical form of %.40q... does not parse: %v", s, err)
		}
	}
}

// The examples in docs/scheduler.md parse.
func TestDocumentedExpressions(t *testing.T) {
	for _, s := range []string{
		"attribute:os == linux && task:group != service:db",
		`attribute:ecs.instance-type =~ 't3\..*' or attribute:gen >= 5`,
		"not (attribute:zone in [z1, z2]) and instanceId !in (node-7)",
	} {
		if _, err := ParseExpression(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}
