//go:build race

package scheduler

// The race detector slows the property tests about 3x; they run fewer
// iterations under it to keep `go test -race` well under 20 seconds.
const raceEnabled = true
