package ecs

import (
	"encoding/base64"
	"strings"
)

// page returns one page of keys (already in the list's order: ascending,
// or descending when desc) after token, and the token of the next page ("" when
// this is the last). Tokens are opaque to clients: base64 of the list's
// name and the last key given, so a page resumes after that key even when
// items came or went in between. max 0 means def; above limit is an error.
func page(list string, keys []string, desc bool, token string, max, def, limit int) ([]string, string, error) {
	if max < 0 || max > limit {
		return nil, "", invalidParam("maxResults must be between 1 and %d.", limit)
	}
	if max == 0 {
		max = def
	}
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		last, ok := strings.CutPrefix(string(b), list+"\x00")
		if err != nil || !ok {
			return nil, "", invalidParam("Invalid nextToken: pass the nextToken of the previous %s response unchanged.", list)
		}
		i := 0
		for i < len(keys) && (!desc && keys[i] <= last || desc && keys[i] >= last) {
			i++
		}
		keys = keys[i:]
	}
	if len(keys) <= max {
		return keys, "", nil
	}
	keys = keys[:max]
	return keys, base64.RawURLEncoding.EncodeToString([]byte(list + "\x00" + keys[len(keys)-1])), nil
}
