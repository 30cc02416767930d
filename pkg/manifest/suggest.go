package manifest

import (
	"fmt"
	"strings"
)

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a likely typo. A candidate equal but for case always wins;
// otherwise closeness is the optimal-string-alignment (restricted
// Damerau-Levenshtein) distance, ignoring case, which counts a swap of two
// neighbouring letters ("memroy") as one edit. Failing that, a candidate that
// starts with name ("port" → "portMappings") is suggested.
func suggest(name string, candidates []string) string {
	lname := strings.ToLower(name)
	best, bestDist := "", -1
	for _, c := range candidates {
		if c == name {
			continue
		}
		lc := strings.ToLower(c)
		if lc == lname {
			return c
		}
		d := osaDistance([]rune(lname), []rune(lc))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	max := (len([]rune(name)) + 2) / 3
	if max > 3 {
		max = 3
	}
	if bestDist >= 0 && bestDist <= max {
		return best
	}
	// A short form of a longer name: "port" for "portMappings", "env" for
	// "environment". The shortest such candidate wins.
	best = ""
	if len(lname) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), lname) && (best == "" || len(c) < len(best)) {
				best = c
			}
		}
	}
	return best
}

// didYouMean formats a suggestion as a message suffix.
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// osaDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent runes.
func osaDistance(a, b []rune) int {
	// Names are short; guard against pathological inputs anyway.
	if len(a) > 256 || len(b) > 256 {
		if string(a) == string(b) {
			return 0
		}
		return 1 << 30
	}
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}
