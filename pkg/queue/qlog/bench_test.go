package qlog

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkSteadyFlow is a drained-as-it-goes queue's traffic into one log:
// each op is one Append (one write, one fdatasync) of 10 sends of 100-byte
// bodies and the 10 deletes of the sends three ops earlier. early=on is the
// default (the active segment rolls from 1 MiB once sparse), early=off
// never rolls before 64 MiB: the ratio is what early rolls (file creations,
// directory fsyncs, unlinks) cost. Compare in interleaved rounds:
//
//	go test -run '^$' -bench SteadyFlow -benchtime 20000x -count 3 ./pkg/queue/qlog
func BenchmarkSteadyFlow(b *testing.B) {
	for _, bc := range []struct {
		name  string
		early int64
	}{{"early=on", 0}, {"early=off", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{EarlyRollBytes: bc.early}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			body := []byte(strings.Repeat("b", 100))
			const lag = 3
			recs := make([]Record, 0, 20)
			b.ResetTimer()
			for i := range b.N {
				recs = recs[:0]
				for j := range 10 {
					recs = append(recs, Record{Kind: Send, Queue: "q", ID: fmt.Sprintf("%d.%d", i, j), Data: body})
				}
				if i >= lag {
					for j := range 10 {
						recs = append(recs, Record{Kind: Delete, Queue: "q", ID: fmt.Sprintf("%d.%d", i-lag, j)})
					}
				}
				if err := l.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(st.EarlyRolls), "early-rolls")
			b.ReportMetric(float64(st.DiskBytes)/(1<<20), "disk-MiB")
		})
	}
}
