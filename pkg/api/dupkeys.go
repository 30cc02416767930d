package api

import (
	"encoding/json"
	"strconv"
)

// duplicateKey finds an object key given twice in the JSON document b and
// returns an error naming its path. encoding/json keeps the last value
// silently; the YAML manifests already refuse duplicates, so the API does
// too (issue 12 item 7). Malformed JSON is left to the decoder's error.
func duplicateKey(b []byte) error {
	dec := json.NewDecoder(bytesReader(b))
	dec.UseNumber()
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		if depth > maxJSONDepth {
			return nil // the decoder refuses it (encoding/json stops at 10,000)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil
				}
				k, _ := kt.(string)
				p := k
				if path != "" {
					p = path + "." + k
				}
				if seen[k] {
					return badRequest("%s: the key %q is given twice; give each key once", p, k)
				}
				seen[k] = true
				if err := walk(p, depth+1); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := walk(path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
			}
		}
		_, _ = dec.Token() // the closing delimiter
		return nil
	}
	return walk("", 0)
}

// maxJSONDepth is where the walk stops; no request of the API nests deeper.
const maxJSONDepth = 200
