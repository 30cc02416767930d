//go:build linux

package qlog

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// BenchmarkSingleAppend is the commit loop at one message per request: each
// op is one Append (one write, one fdatasync) of a send and the delete of
// the send before it, about 380 bytes. prealloc=zeros is the default (the
// active segment's file is extended 256 KiB ahead of its writes with
// written zeros), prealloc=fallocate extends it as far with fallocate
// (unwritten extents: what the log did before), prealloc=off extends it
// with every write. It reports the process's CPU
// per append (user + system: the kernel's fdatasync work is most of it),
// the figure preallocation lowers. Compare in interleaved rounds, on the
// disk the data dir lives on:
//
//	go test -run '^$' -bench SingleAppend -benchtime 3000x -count 5 ./pkg/queue/qlog
func BenchmarkSingleAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		prealloc int64
		fill     func(*os.File, int64, int64) error
	}{{"prealloc=zeros", 0, zeroFill}, {"prealloc=fallocate", 0, fallocate}, {"prealloc=off", -1, zeroFill}} {
		b.Run(bc.name, func(b *testing.B) {
			preallocFile = bc.fill
			defer func() { preallocFile = zeroFill }()
			l, err := Open(b.TempDir(), Options{PreallocBytes: bc.prealloc}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			body := []byte(strings.Repeat("b", 300))
			cpu0 := cpuMicros()
			b.ResetTimer()
			for i := range b.N {
				recs := []Record{{Kind: Send, Queue: "q", ID: fmt.Sprintf("m%09d", i), Data: body}}
				if i > 0 {
					recs = append(recs, Record{Kind: Delete, Queue: "q", ID: fmt.Sprintf("m%09d", i-1)})
				}
				if err := l.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuMicros()-cpu0)/float64(b.N), "cpu-us/append")
		})
	}
}

func cpuMicros() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
}
