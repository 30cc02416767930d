package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is an AND of leaf conditions and of $or groups; a group holds if
// any of its alternatives does. Leaves carry their full key path, so a
// nested body policy flattens into one node per $or alternative.
type node struct {
	leaves []leaf
	ors    [][]node
}

// leaf is one key's condition: the value at path passes any of matchers.
type leaf struct {
	path     []string // attribute scope: one element, the attribute name
	idx      int      // index of path among the policy's distinct paths
	matchers []matcher
}

type opKind uint8

const (
	opString opKind = iota // exact string
	opNumber               // exact number
	opBool                 // true or false
	opNull                 // null
	opPrefix
	opSuffix
	opEqualsIgnoreCase
	opNumeric // range
	opExists
	opAnythingBut       // a list of strings or numbers
	opAnythingButPrefix // anything-but {"prefix": ...}
	opAnythingButSuffix // anything-but {"suffix": ...}
	opCIDR
)

type matcher struct {
	op   opKind
	str  string   // string, prefix, suffix, equals-ignore-case
	num  int64    // exact number (fixed point)
	flag bool     // bool literal, exists
	strs []string // anything-but strings
	nums []int64  // anything-but numbers
	// numeric range, fixed point; a missing bound is open
	lo, hi         int64
	hasLo, hasHi   bool
	loIncl, hiIncl bool
	prefix         netip.Prefix
}

// operators are SNS's reserved keywords: an object holding one of them is
// a match expression, not an $or alternative.
var operators = map[string]bool{
	"prefix": true, "suffix": true, "anything-but": true, "numeric": true,
	"exists": true, "cidr": true, "equals-ignore-case": true, "wildcard": true,
}

// Parse compiles policyJSON for scope, validating it as SNS does. An empty
// text means "no policy" and returns a nil *Policy, which matches every
// message (SNS removes a subscription's filter when FilterPolicy is set to "").
func Parse(policyJSON string, scope Scope) (*Policy, error) {
	if scope != ScopeMessageAttributes && scope != ScopeMessageBody {
		return nil, errorf("unknown filter policy scope %d", int(scope))
	}
	if strings.TrimSpace(policyJSON) == "" {
		return nil, nil
	}
	if len(policyJSON) > MaxPolicyBytes {
		return nil, errorf("Filter policy is too large: %d bytes, at most %d (256 KB)", len(policyJSON), MaxPolicyBytes)
	}
	if !utf8.ValidString(policyJSON) {
		return nil, errorf("Filter policy must be valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(policyJSON))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, errorf("Filter policy is not valid JSON: %s", jsonReason(err))
	}
	if dec.More() {
		return nil, errorf("Filter policy is not valid JSON: unexpected text after the policy object")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, errorf("Filter policy must be a JSON object, such as {\"store\": [\"example_corp\"]}")
	}
	c := compiler{scope: scope, index: map[string]int{}}
	root, err := c.object(obj, nil, 1)
	if err != nil {
		return nil, err
	}
	if len(c.paths) > MaxKeys {
		names := make([]string, len(c.paths))
		for i, p := range c.paths {
			names[i] = pathText(p)
		}
		sort.Strings(names)
		return nil, errorf("Filter policy can not have more than %d keys (it has %d: %s)", MaxKeys, len(c.paths), strings.Join(names, ", "))
	}
	combo := root.complexity()
	if combo > MaxCombinations {
		return nil, errorf("Filter policy is too complex (%s combinations, at most %d: use fewer values per key or fewer $or alternatives)", comboText(combo), MaxCombinations)
	}
	p := &Policy{scope: scope, root: root, keys: len(c.paths), combo: int(combo)}
	if scope == ScopeMessageBody {
		p.trie = buildTrie(c.paths)
	}
	return p, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	return err.Error()
}

type compiler struct {
	scope Scope
	paths [][]string     // distinct leaf paths, in the order first seen
	index map[string]int // path (joined with NUL) -> its index in paths
}

// object compiles one policy object (the root, a nested body object or an
// $or alternative) whose keys sit under prefix.
func (c *compiler) object(obj map[string]any, prefix []string, depth int) (node, error) {
	if depth > MaxDepth {
		return node{}, errorf("Filter policy nests too deeply at %q: at most %d levels", strings.Join(prefix, "."), MaxDepth)
	}
	var n node
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic: the first error is always the same one
	for _, k := range names {
		v := obj[k]
		path := append(append([]string(nil), prefix...), k)
		if k == "$or" {
			if alts, ok := orAlternatives(v); ok {
				group := make([]node, 0, len(alts))
				for _, alt := range alts {
					an, err := c.object(alt, prefix, depth+1)
					if err != nil {
						return node{}, err
					}
					group = append(group, an)
				}
				n.ors = append(n.ors, group)
				continue
			}
			// Otherwise SNS treats "$or" as an ordinary key.
		}
		switch v := v.(type) {
		case map[string]any:
			if c.scope == ScopeMessageAttributes {
				return node{}, errorf("Filter policy scope MessageAttributes does not support nested filter policy (key %q): set FilterPolicyScope to MessageBody to filter on nested body properties", pathText(path))
			}
			if len(v) == 0 {
				return node{}, errorf("%q must not be an empty object", pathText(path))
			}
			sub, err := c.object(v, path, depth+1)
			if err != nil {
				return node{}, err
			}
			n.leaves = append(n.leaves, sub.leaves...)
			n.ors = append(n.ors, sub.ors...)
		case []any:
			if len(v) == 0 {
				return node{}, errorf("Empty arrays are not allowed (key %q): list at least one value to match", pathText(path))
			}
			l := leaf{path: path}
			for _, item := range v {
				m, err := parseMatcher(item, path)
				if err != nil {
					return node{}, err
				}
				l.matchers = append(l.matchers, m)
			}
			id := strings.Join(path, "\x00")
			idx, seen := c.index[id]
			if !seen {
				idx = len(c.paths)
				c.index[id] = idx
				c.paths = append(c.paths, path)
			}
			l.idx = idx
			n.leaves = append(n.leaves, l)
		default:
			return node{}, errorf("%q must be an object or an array, such as [\"value\"]", pathText(path))
		}
	}
	return n, nil
}

// orAlternatives applies SNS's three conditions for "$or" to be the OR
// operator: an array, at least two objects, none of them naming a
// reserved keyword ("AND/OR logic").
func orAlternatives(v any) ([]map[string]any, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return nil, false
	}
	alts := make([]map[string]any, 0, len(arr))
	for _, item := range arr {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, false
		}
		for k := range obj {
			if operators[k] {
				return nil, false
			}
		}
		alts = append(alts, obj)
	}
	return alts, true
}

func pathText(path []string) string { return strings.Join(path, ".") }

// complexity counts combinations as SNS does: the product over the keys of
// the number of values each lists; a nested body key's count is multiplied
// by the number of objects enclosing it ("Filter policy constraints": four
// values three levels down and three values two levels down make
// 3x4 x 2x3 = 72); an $or group adds up its alternatives, so the policy's
// total is the sum over every path through the $or operators. Saturates
// instead of overflowing.
func (n node) complexity() int64 {
	total := int64(1)
	for _, l := range n.leaves {
		f := int64(len(l.path) - 1)
		if f < 1 {
			f = 1
		}
		total = satMul(total, f*int64(len(l.matchers)))
	}
	for _, group := range n.ors {
		var sum int64
		for _, alt := range group {
			sum = satAdd(sum, alt.complexity())
		}
		total = satMul(total, sum)
	}
	return total
}

const saturated = int64(1) << 40

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= saturated/b {
		return saturated
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a+b > saturated {
		return saturated
	}
	return a + b
}

func comboText(n int64) string {
	if n >= saturated {
		return "more than " + strconv.FormatInt(saturated, 10)
	}
	return strconv.FormatInt(n, 10)
}

// fixed converts a number to SNS's precision: five decimal places within
// -1e9..1e9, as a scaled integer so equality is exact ("0.1" == "0.10000").
func fixed(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < -numericLimit || f > numericLimit {
		return 0, false
	}
	return int64(math.Round(f * numericScale)), true
}

func policyNumber(n json.Number, path []string) (int64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, errorf("%s is not a number SNS can compare (key %q)", n, pathText(path))
	}
	v, ok := fixed(f)
	if !ok {
		return 0, errorf("Numeric value %s is out of range (key %q): SNS compares numbers from -1.0E9 to 1.0E9 with five decimal places", n, pathText(path))
	}
	return v, nil
}

func parseMatcher(item any, path []string) (matcher, error) {
	switch v := item.(type) {
	case string:
		return matcher{op: opString, str: v}, nil
	case json.Number:
		n, err := policyNumber(v, path)
		return matcher{op: opNumber, num: n}, err
	case bool:
		return matcher{op: opBool, flag: v}, nil
	case nil:
		return matcher{op: opNull}, nil
	case map[string]any:
		if len(v) != 1 {
			return matcher{}, errorf("A match expression must hold exactly one operator, it has %d (key %q)", len(v), pathText(path))
		}
		for op, arg := range v {
			return parseOperator(op, arg, path)
		}
	}
	return matcher{}, errorf("Match value must be String, number, true, false, or null (key %q)", pathText(path))
}

func parseOperator(op string, arg any, path []string) (matcher, error) {
	where := pathText(path)
	switch op {
	case "prefix", "suffix", "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return matcher{}, errorf("%s match pattern must be a string (key %q)", op, where)
		}
		kind := opPrefix
		switch op {
		case "suffix":
			kind = opSuffix
		case "equals-ignore-case":
			kind = opEqualsIgnoreCase
		}
		return matcher{op: kind, str: s}, nil
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return matcher{}, errorf("exists match pattern must be either true or false. (key %q)", where)
		}
		return matcher{op: opExists, flag: b}, nil
	case "numeric":
		return parseNumeric(arg, path)
	case "anything-but":
		return parseAnythingBut(arg, path)
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return matcher{}, errorf("cidr match pattern must be a string such as \"10.0.0.0/24\" (key %q)", where)
		}
		if !strings.Contains(s, "/") {
			return matcher{}, errorf("Malformed CIDR, one '/' required (key %q): write it as \"10.0.0.0/24\" or \"2001:db8::/32\"", where)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return matcher{}, errorf("Nonstandard IP address: %s (key %q)", s, where)
		}
		return matcher{op: opCIDR, prefix: p.Masked()}, nil
	}
	return matcher{}, errorf("Unrecognized match type %s (key %q): use prefix, suffix, anything-but, equals-ignore-case, numeric, exists or cidr", op, where)
}

func parseNumeric(arg any, path []string) (matcher, error) {
	where := pathText(path)
	arr, ok := arg.([]any)
	if !ok || len(arr) == 0 {
		return matcher{}, errorf("Value of numeric must be an array such as [\">\", 0, \"<=\", 100] (key %q)", where)
	}
	m := matcher{op: opNumeric}
	for i := 0; i < len(arr); i += 2 {
		opName, ok := arr[i].(string)
		if !ok {
			return matcher{}, errorf("Invalid member in numeric match: %v (key %q)", arr[i], where)
		}
		switch opName {
		case "=", "<", "<=", ">", ">=":
		default:
			if i == 0 {
				return matcher{}, errorf("Unrecognized numeric range operator: %s (key %q)", opName, where)
			}
			return matcher{}, errorf("Bad numeric range operator: %s (key %q)", opName, where)
		}
		if i+1 >= len(arr) {
			return matcher{}, errorf("Value of %s must be numeric (key %q)", opName, where)
		}
		num, ok := arr[i+1].(json.Number)
		if !ok {
			return matcher{}, errorf("Value of %s must be numeric (key %q)", opName, where)
		}
		v, err := policyNumber(num, path)
		if err != nil {
			return matcher{}, err
		}
		if i == 0 {
			switch opName {
			case "=":
				m.lo, m.hi, m.hasLo, m.hasHi, m.loIncl, m.hiIncl = v, v, true, true, true, true
				if len(arr) > 2 {
					return matcher{}, errorf("Too many elements in numeric expression (key %q): \"=\" takes one value", where)
				}
			case ">", ">=":
				m.lo, m.hasLo, m.loIncl = v, true, opName == ">="
			case "<", "<=":
				m.hi, m.hasHi, m.hiIncl = v, true, opName == "<="
				if len(arr) > 2 {
					return matcher{}, errorf("Too many elements in numeric expression (key %q): put the lower bound first, as [\">\", 0, \"<\", 10]", where)
				}
			}
			continue
		}
		if i > 2 {
			return matcher{}, errorf("Too many elements in numeric expression (key %q)", where)
		}
		if opName != "<" && opName != "<=" {
			return matcher{}, errorf("Bad numeric range operator: %s (key %q): the second bound must be < or <=", opName, where)
		}
		m.hi, m.hasHi, m.hiIncl = v, true, opName == "<="
		if m.hi <= m.lo {
			return matcher{}, errorf("Bottom must be less than top (key %q)", where)
		}
	}
	return m, nil
}

func parseAnythingBut(arg any, path []string) (matcher, error) {
	where := pathText(path)
	switch v := arg.(type) {
	case string:
		return matcher{op: opAnythingBut, strs: []string{v}}, nil
	case json.Number:
		n, err := policyNumber(v, path)
		return matcher{op: opAnythingBut, nums: []int64{n}}, err
	case []any:
		if len(v) == 0 {
			return matcher{}, errorf("Empty arrays are not allowed (key %q): anything-but needs at least one value", where)
		}
		m := matcher{op: opAnythingBut}
		for _, item := range v {
			switch it := item.(type) {
			case string:
				m.strs = append(m.strs, it)
			case json.Number:
				n, err := policyNumber(it, path)
				if err != nil {
					return matcher{}, err
				}
				m.nums = append(m.nums, n)
			default:
				return matcher{}, errorf("Inside anything but list, start|null|boolean is not supported. (key %q)", where)
			}
		}
		if len(m.strs) > 0 && len(m.nums) > 0 {
			return matcher{}, errorf("Inside anything but list, all values must be strings or all numbers (key %q)", where)
		}
		return m, nil
	case map[string]any:
		if len(v) != 1 {
			return matcher{}, errorf("Value of anything-but must be an array or single string/number value. (key %q)", where)
		}
		for op, a := range v {
			s, ok := a.(string)
			switch op {
			case "prefix", "suffix":
				if !ok {
					return matcher{}, errorf("%s match pattern must be a string (key %q)", op, where)
				}
				if s == "" {
					return matcher{}, errorf("Null %s not allowed inside anything-but (key %q)", op, where)
				}
				if op == "prefix" {
					return matcher{op: opAnythingButPrefix, str: s}, nil
				}
				return matcher{op: opAnythingButSuffix, str: s}, nil
			}
			return matcher{}, errorf("Unsupported anything-but pattern: %s (key %q): use prefix or suffix", op, where)
		}
	}
	return matcher{}, errorf("Value of anything-but must be an array or single string/number value. (key %q)", where)
}
