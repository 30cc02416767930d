package filter

import (
	"net/netip"
	"strconv"
	"strings"
)

type valKind uint8

const (
	vString valKind = iota
	vNumber
	vBool
	vNull
)

// val is one scalar a key resolved to: an attribute's value, one element
// of a String.Array, or one leaf of the body (arrays contribute every
// element).
type val struct {
	kind valKind
	s    string // vString; for vNumber the number's text
	n    int64  // vNumber, fixed point; valid when nok
	nok  bool   // the number is within SNS's range
	b    bool   // vBool
}

// Match reports whether m passes the policy. A nil *Policy matches
// everything. With ScopeMessageBody a body that is not a JSON object never
// matches (unless the policy is empty).
func (p *Policy) Match(m Message) bool {
	if p == nil || (len(p.root.leaves) == 0 && len(p.root.ors) == 0) {
		return true
	}
	if p.scope == ScopeMessageBody && !isJSONObject(m.Body) {
		return false
	}
	return p.root.eval(p.scope, &m)
}

func (n *node) eval(scope Scope, m *Message) bool {
	for i := range n.leaves {
		if !n.leaves[i].eval(scope, m) {
			return false
		}
	}
	for _, group := range n.ors {
		any := false
		for i := range group {
			if group[i].eval(scope, m) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	return true
}

func (l *leaf) eval(scope Scope, m *Message) bool {
	var buf [8]val // stays on the stack for the usual handful of values
	vals := buf[:0]
	if scope == ScopeMessageAttributes {
		vals = attributeValues(m.Attributes, l.path[0], vals)
	} else {
		vals = bodyValues(m.Body, l.path, vals)
	}
	for i := range l.matchers {
		if l.matchers[i].match(vals, scope, m) {
			return true
		}
	}
	return false
}

// attributeValues resolves an attribute to its values. Binary attributes
// (and data types SNS does not filter on) count as absent.
func attributeValues(attrs map[string]Attribute, name string, vals []val) []val {
	a, ok := attrs[name]
	if !ok {
		return vals
	}
	switch {
	case a.DataType == "String.Array":
		if isJSON(a.Value) {
			vals, _ = collect(a.Value, skipWS(a.Value, 0), nil, vals, 0)
		}
	case baseType(a.DataType) == "String":
		vals = append(vals, val{kind: vString, s: a.Value})
	case baseType(a.DataType) == "Number":
		vals = append(vals, numberVal(a.Value))
	}
	return vals
}

func baseType(dt string) string {
	if i := strings.IndexByte(dt, '.'); i >= 0 {
		return dt[:i]
	}
	return dt
}

func numberVal(text string) val {
	v := val{kind: vNumber, s: text}
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		v.n, v.nok = fixed(f)
	}
	return v
}

func (mt *matcher) match(vals []val, scope Scope, m *Message) bool {
	switch mt.op {
	case opExists:
		present := false
		for i := range vals {
			if vals[i].kind != vNull {
				present = true
				break
			}
		}
		if mt.flag {
			return present
		}
		// "exists": false only matches when the message has attributes
		// at all ("Key matching": an empty set of attributes does not
		// match).
		if scope == ScopeMessageAttributes && len(m.Attributes) == 0 {
			return false
		}
		return !present
	case opAnythingBut, opAnythingButPrefix, opAnythingButSuffix:
		// Matches when the key has a value and none of its values (every
		// element of an array) is excluded.
		present := false
		for i := range vals {
			if vals[i].kind == vNull {
				continue
			}
			present = true
			if mt.excludes(&vals[i]) {
				return false
			}
		}
		return present
	}
	for i := range vals {
		if mt.matchOne(&vals[i]) {
			return true
		}
	}
	return false
}

func (mt *matcher) excludes(v *val) bool {
	switch mt.op {
	case opAnythingButPrefix:
		return v.kind == vString && strings.HasPrefix(v.s, mt.str)
	case opAnythingButSuffix:
		return v.kind == vString && strings.HasSuffix(v.s, mt.str)
	}
	if v.kind == vString {
		for _, s := range mt.strs {
			if s == v.s {
				return true
			}
		}
	}
	if v.kind == vNumber && v.nok {
		for _, n := range mt.nums {
			if n == v.n {
				return true
			}
		}
	}
	return false
}

func (mt *matcher) matchOne(v *val) bool {
	switch mt.op {
	case opString:
		return v.kind == vString && v.s == mt.str
	case opNumber:
		return v.kind == vNumber && v.nok && v.n == mt.num
	case opBool:
		return v.kind == vBool && v.b == mt.flag
	case opNull:
		return v.kind == vNull
	case opPrefix:
		return v.kind == vString && strings.HasPrefix(v.s, mt.str)
	case opSuffix:
		return v.kind == vString && strings.HasSuffix(v.s, mt.str)
	case opEqualsIgnoreCase:
		return v.kind == vString && strings.EqualFold(v.s, mt.str)
	case opNumeric:
		if v.kind != vNumber || !v.nok {
			return false
		}
		if mt.hasLo && (v.n < mt.lo || v.n == mt.lo && !mt.loIncl) {
			return false
		}
		if mt.hasHi && (v.n > mt.hi || v.n == mt.hi && !mt.hiIncl) {
			return false
		}
		return true
	case opCIDR:
		if v.kind != vString {
			return false
		}
		addr, err := netip.ParseAddr(v.s)
		if err != nil || addr.Zone() != "" {
			return false
		}
		return mt.prefix.Contains(addr.Unmap()) || mt.prefix.Contains(addr)
	}
	return false
}
