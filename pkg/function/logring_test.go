package function

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// The log ring returns the newest 64 KB from a line's start, keeps every
// line once and in order, across many compactions.
func TestLogRingKeepsTheNewestLines(t *testing.T) {
	l := newLogRing()
	var all strings.Builder
	for i := range 20000 {
		line := fmt.Sprintf("START RequestId: %d\nsome output of invocation %d\nEND RequestId: %d\n", i, i, i)
		all.WriteString(line)
		l.add("f", []byte(line))
		if i%997 == 0 || i == 19999 {
			got := l.get("f")
			if len(got) > logRingBytes || len(got) < logRingBytes/2 && all.Len() > logRingBytes {
				t.Fatalf("after %d invocations: %d bytes, want the last %d at most (and most of them)", i+1, len(got), logRingBytes)
			}
			if !bytes.HasSuffix([]byte(all.String()), got) {
				t.Fatalf("after %d invocations the ring is not the tail of the logs", i+1)
			}
			if !bytes.HasPrefix(got, []byte("START ")) && !bytes.HasPrefix(got, []byte("some ")) && !bytes.HasPrefix(got, []byte("END ")) {
				t.Fatalf("the ring starts mid-line: %q", got[:40])
			}
		}
	}
	// One huge log keeps only its tail; another function is separate.
	l.add("g", []byte(strings.Repeat("x", 3*logRingBytes)+"\nlast\n"))
	if got := l.get("g"); string(got) != "last\n" && !strings.HasSuffix(string(got), "\nlast\n") {
		t.Fatalf("a huge log's tail = %q...", got[:20])
	}
	l.forget("f")
	if got := l.get("f"); len(got) != 0 {
		t.Fatalf("a forgotten function still has %d bytes of logs", len(got))
	}
}

func BenchmarkLogRingAdd(b *testing.B) {
	l := newLogRing()
	line := []byte("START RequestId: 6f1c\nEND RequestId: 6f1c\nREPORT RequestId: 6f1c Duration: 0.51 ms Billed Duration: 1 ms\n")
	for b.Loop() {
		l.add("f", []byte(line))
	}
}
