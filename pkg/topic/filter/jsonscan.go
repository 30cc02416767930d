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

// maxScanDepth stops collect from recursing through absurdly nested arrays.
const maxScanDepth = 10000

// collect appends the scalar values the value at s[i:] holds at path and
// returns the index just after that value: with an empty path, the value
// itself, or every element of an array (arrays nest and flatten); with a
// path, the members of an object named path[0], followed further. An array
// anywhere on the way matches through any of its elements. Objects are not
// leaves and contribute nothing. Each byte is read once, so a value costs
// time linear in its length however deeply it nests.
func collect(s string, i int, path []string, vals []val, depth int) ([]val, int) {
	if i >= len(s) {
		return vals, len(s)
	}
	if depth > maxScanDepth {
		return vals, skipValue(s, i)
	}
	switch c := s[i]; {
	case c == '{':
		if len(path) == 0 {
			return vals, skipValue(s, i)
		}
		i = skipWS(s, i+1)
		for i < len(s) && s[i] == '"' {
			raw, end, escaped := scanString(s, i)
			i = skipWS(s, end)
			if i >= len(s) || s[i] != ':' {
				return vals, len(s)
			}
			i = skipWS(s, i+1)
			if keyIs(raw, escaped, path[0]) {
				vals, i = collect(s, i, path[1:], vals, depth+1)
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
		return vals, i
	case c == '[':
		i = skipWS(s, i+1)
		for i < len(s) && s[i] != ']' {
			next := i
			vals, next = collect(s, i, path, vals, depth+1)
			if next <= i {
				return vals, len(s)
			}
			i = skipWS(s, next)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
			}
		}
		if i < len(s) {
			i++
		}
		return vals, i
	}
	end := skipValue(s, i)
	if len(path) > 0 {
		return vals, end // a scalar where the path wants an object: nothing here
	}
	switch s[i] {
	case '"':
		raw, _, escaped := scanString(s, i)
		if escaped {
			raw = unescape(raw)
		}
		vals = append(vals, val{kind: vString, s: raw})
	case 't':
		vals = append(vals, val{kind: vBool, b: true})
	case 'f':
		vals = append(vals, val{kind: vBool, b: false})
	case 'n':
		vals = append(vals, val{kind: vNull})
	default:
		vals = append(vals, numberVal(s[i:end]))
	}
	return vals, end
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
	for j < len(s) && !strings.ContainsRune(",}] \t\r\n", rune(s[j])) {
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

// bodyValues resolves a key path in a JSON body (already known to be an
// object).
func bodyValues(body string, path []string, vals []val) []val {
	vals, _ = collect(body, skipWS(body, 0), path, vals, 0)
	return vals
}
