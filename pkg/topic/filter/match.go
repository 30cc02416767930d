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
	if p.scope == ScopeMessageAttributes {
		ev := evaluation{scope: p.scope, attrs: m.Attributes}
		return p.root.eval(&ev)
	}
	if !isJSONObject(m.Body) {
		return false
	}
	// One pass over the body resolves every key the policy names.
	ev := evaluation{scope: p.scope}
	walk(m.Body, skipWS(m.Body, 0), p.trie, &ev.body, 0)
	return p.root.eval(&ev)
}

// evaluation is one Match call's state.
type evaluation struct {
	scope Scope
	attrs map[string]Attribute // not the *Message: its address would escape
	body  valueSet             // body scope: the values of each distinct path
}

func (n *node) eval(ev *evaluation) bool {
	for i := range n.leaves {
		if !n.leaves[i].eval(ev) {
			return false
		}
	}
	for _, group := range n.ors {
		any := false
		for i := range group {
			if group[i].eval(ev) {
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

func (l *leaf) eval(ev *evaluation) bool {
	var vals []val
	var one [1]val
	if ev.scope == ScopeMessageBody {
		vals = ev.body.get(l.idx)
	} else if a, ok := ev.attrs[l.path[0]]; ok {
		// Binary attributes (and data types SNS does not filter on)
		// count as absent.
		switch {
		case a.DataType == "String.Array":
			if isJSON(a.Value) {
				var arr valueSet // declared here so only arrays pay for zeroing it
				walk(a.Value, skipWS(a.Value, 0), arrayLeaf, &arr, 0)
				vals = arr.get(0)
			}
		case baseType(a.DataType) == "String":
			one[0] = val{kind: vString, s: a.Value}
			vals = one[:]
		case baseType(a.DataType) == "Number":
			one[0] = numberVal(a.Value)
			vals = one[:]
		}
	}
	for i := range l.matchers {
		if l.matchers[i].match(vals, ev) {
			return true
		}
	}
	return false
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

func (mt *matcher) match(vals []val, ev *evaluation) bool {
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
		if ev.scope == ScopeMessageAttributes && len(ev.attrs) == 0 {
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
