package filter

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// refValues is a slow, obviously-correct reference for walk: it decodes
// the JSON with encoding/json's tokenizer (keeping duplicate keys) and
// follows path the way the package documents it.
func refValues(t *testing.T, text string, path []string) []val {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var out []val
	var visit func(path []string, skip bool)
	visit = func(path []string, skip bool) {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("reference decoder: %v", err)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						t.Fatalf("reference decoder: %v", err)
					}
					key := kt.(string)
					if len(path) > 0 && key == path[0] {
						visit(path[1:], skip)
					} else {
						visit(nil, true) // not on the path: collect nothing
					}
				}
			case '[':
				for dec.More() {
					visit(path, skip)
				}
			}
			if _, err := dec.Token(); err != nil { // the closing delimiter
				t.Fatalf("reference decoder: %v", err)
			}
		default:
			if len(path) > 0 || skip {
				return
			}
			switch v := v.(type) {
			case string:
				out = append(out, val{kind: vString, s: v})
			case json.Number:
				out = append(out, numberVal(string(v)))
			case bool:
				out = append(out, val{kind: vBool, b: v})
			case nil:
				out = append(out, val{kind: vNull})
			}
		}
	}
	visit(path, false)
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("reference decoder: trailing data: %v", err)
	}
	return out
}

// FuzzWalk holds the in-place body reader to the reference: the same
// values, in the same order, for every path of up to three keys.
func FuzzWalk(f *testing.F) {
	f.Add(`{"a": {"b": [1, "x", {"c": true}], "c": null}, "a": [{"b": "y\u00e9"}]}`, "a", "b", "c")
	f.Add(`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"size": 1e3}}]}`, "Records", "eventName", "")
	f.Add(`[[1, [2, "q\"r"]], {"k": 3}]`, "", "", "")
	f.Add(`{"k\u0031": [[["deep"]]], "k1": -0.5E-2}`, "k1", "", "")
	f.Fuzz(func(t *testing.T, text, k1, k2, k3 string) {
		if !validJSON(text) || !utf8.ValidString(text) {
			return
		}
		var path []string
		for _, k := range []string{k1, k2, k3} {
			if k == "" {
				break
			}
			path = append(path, k)
		}
		var vs valueSet
		walk(text, skipWS(text, 0), buildTrie([][]string{path}), &vs, 0)
		got, want := vs.get(0), refValues(t, text, path)
		if len(got) != len(want) {
			t.Fatalf("walk(%q, %q) found %d values %+v, reference %d %+v", text, path, len(got), got, len(want), want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("walk(%q, %q) value %d = %+v, reference %+v", text, path, i, got[i], want[i])
			}
		}
	})
}
