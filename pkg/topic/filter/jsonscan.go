package filter

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The match path reads message JSON (String.Array values and bodies) in
// place instead of decoding it into maps: a policy only looks at up to
// five keys, and decoding a body per subscription would allocate for
// every value in it. The text is checked with validJSON first, so the
// scanner below may assume well-formed JSON; it still bounds-checks every
// index so a malformed input can never make it panic.

func isJSON(s string) bool { return validJSON(s) }

// isJSONObject reports whether s is valid JSON whose top level is an object.
func isJSONObject(s string) bool {
	i := skipWS(s, 0)
	return i < len(s) && s[i] == '{' && isJSON(s)
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// maxScanDepth stops walk from recursing through absurdly nested arrays.
const maxScanDepth = 10000

// trieNode is one step of the key paths a body policy names: the value
// reached here feeds the path numbered leaf (if any) and, when it is an
// object, its members named in keys continue into children.
type trieNode struct {
	leaf     int // index into the policy's distinct paths, or -1
	keys     []string
	children []*trieNode
}

func buildTrie(paths [][]string) *trieNode {
	root := &trieNode{leaf: -1}
	for idx, path := range paths {
		n := root
		for _, k := range path {
			var next *trieNode
			for i, ck := range n.keys {
				if ck == k {
					next = n.children[i]
				}
			}
			if next == nil {
				next = &trieNode{leaf: -1}
				n.keys = append(n.keys, k)
				n.children = append(n.children, next)
			}
			n = next
		}
		n.leaf = idx
	}
	return root
}

// arrayLeaf resolves a String.Array attribute: its elements are path 0.
var arrayLeaf = &trieNode{leaf: 0}

// valueSet holds the values found for each of a policy's (at most five)
// paths. It lives on the caller's stack: the first few values of a path
// go into fixed, and only a path with more spills to the heap. (A slice
// of a stack array stored through a pointer would make the compiler move
// the array to the heap on every call.)
type valueSet struct {
	n     [MaxKeys]int
	fixed [MaxKeys][6]val
	spill [MaxKeys][]val
}

func (vs *valueSet) add(k int, v val) {
	switch {
	case vs.spill[k] != nil:
		vs.spill[k] = append(vs.spill[k], v)
	case vs.n[k] < len(vs.fixed[k]):
		vs.fixed[k][vs.n[k]] = v
		vs.n[k]++
	default:
		vs.spill[k] = append(append(make([]val, 0, 4*len(vs.fixed[k])), vs.fixed[k][:]...), v)
	}
}

func (vs *valueSet) get(k int) []val {
	if vs.spill[k] != nil {
		return vs.spill[k]
	}
	return vs.fixed[k][:vs.n[k]]
}

// walk reads the value at s[i:], which the trie node n stands for, and
// returns the index just after it. Scalars are appended to n's path;
// arrays (nested or not) pass each element to the same node, so a key
// matches through any element; object members named by n's keys continue
// into its children. Objects are not leaves and contribute no value. Each
// byte is read once, so one walk resolves every path a policy names in
// time linear in the body, however deeply it nests.
func walk(s string, i int, n *trieNode, out *valueSet, depth int) int {
	if i >= len(s) {
		return len(s)
	}
	if depth > maxScanDepth {
		return skipValue(s, i)
	}
	switch s[i] {
	case '{':
		if len(n.keys) == 0 {
			return skipValue(s, i)
		}
		i = skipWS(s, i+1)
		for i < len(s) && s[i] == '"' {
			raw, end, escaped := scanString(s, i)
			i = skipWS(s, end)
			if i >= len(s) || s[i] != ':' {
				return len(s)
			}
			i = skipWS(s, i+1)
			var child *trieNode
			for k, key := range n.keys {
				if keyIs(raw, escaped, key) {
					child = n.children[k]
					break
				}
			}
			if child != nil {
				i = walk(s, i, child, out, depth+1)
			} else {
				i = skipValue(s, i)
			}
			i = skipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
			}
		}
		if i < len(s) && s[i] == '}' {
			i++
		}
		return i
	case '[':
		i = skipWS(s, i+1)
		for i < len(s) && s[i] != ']' {
			next := walk(s, i, n, out, depth+1)
			if next <= i {
				return len(s)
			}
			i = skipWS(s, next)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
			}
		}
		if i < len(s) {
			i++
		}
		return i
	}
	end := skipValue(s, i)
	if n.leaf < 0 {
		return end // a scalar where the paths want an object: nothing here
	}
	var v val
	switch s[i] {
	case '"':
		raw, _, escaped := scanString(s, i)
		if escaped {
			raw = unescape(raw)
		}
		v = val{kind: vString, s: raw}
	case 't':
		v = val{kind: vBool, b: true}
	case 'f':
		v = val{kind: vBool, b: false}
	case 'n':
		v = val{kind: vNull}
	default:
		v = numberVal(s[i:end])
	}
	out.add(n.leaf, v)
	return end
}

func keyIs(raw string, escaped bool, want string) bool {
	if !escaped {
		return raw == want
	}
	return unescape(raw) == want
}

// scanString reads the string starting at the quote s[i]: its raw
// content, the index after the closing quote, and whether it holds escapes.
func scanString(s string, i int) (raw string, end int, escaped bool) {
	start := i + 1
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return s[start:j], j + 1, escaped
		}
	}
	return s[start:], len(s), escaped
}

// skipValue returns the index just after the value starting at s[i].
func skipValue(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	switch s[i] {
	case '"':
		_, end, _ := scanString(s, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				_, end, _ := scanString(s, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(s)
	}
	j := i
	for j < len(s) && !isDelim(s[j]) {
		j++
	}
	if j == i {
		return i + 1
	}
	return j
}

// unescape decodes a JSON string's escapes (the raw text between quotes).
func unescape(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, n := hexRune(raw[i+1:])
			i += n
			if utf16.IsSurrogate(r) && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				r2, n2 := hexRune(raw[i+3:])
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 2 + n2
				}
			}
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default: // \" \\ \/
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func hexRune(s string) (rune, int) {
	if len(s) < 4 {
		return utf8.RuneError, len(s)
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return utf8.RuneError, 4
		}
	}
	return r, 4
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}
