package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
)

// A malformed line and a line over wire.MaxInvocationLine on the
// invocation stream do not end it: each comes to the handler as an
// unreadable event naming its invocation (when the line's start names
// one, even cut), without the payload in the reason, and the invocations
// after them arrive on the same stream. Through both forms.
func TestUnreadableInvocationLinesDoNotEndTheStream(t *testing.T) {
	const spec = `{"name":"f","arn":"a","image":"i","memoryMiB":128,"timeoutSec":3,"revision":"1"}`
	huge := `{"type":"invoke","requestId":"r-huge","function":` + spec + `,"payload":"` + strings.Repeat("QUJD", wire.MaxInvocationLine/4+1) + `"}`
	lines := []string{
		`{"type":"ping"}`,
		`{"type":"invoke","requestId":"r-ok-1","function":` + spec + `,"payload":"e30="}`,
		`{"type":"invoke","requestId":"r-bad","function"` + spec + `,"payload":"c2VjcmV0"}`, // no colon
		huge,
		`{"type":"invoke","requestId":"r-base64","function":` + spec + `,"payload":"!!not base64 secret"}`,
		`garbage secret`,
		`{"type":"invoke","requestId":"r-ok-2","function":` + spec + `}`,
	}
	var opens atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opens.Add(1)
		bw := bufio.NewWriter(w)
		for _, l := range lines {
			fmt.Fprintln(bw, l)
		}
		bw.Flush()
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c := New(Config{Servers: []string{srv.URL}, Token: "tok"})

	check := func(t *testing.T, got []wire.InvocationEvent) {
		t.Helper()
		type want struct {
			id         string
			unreadable string // a part of the reason; "" for a good invoke
			tooLarge   bool
		}
		wants := []want{
			{"r-ok-1", "", false},
			{"r-bad", "malformed line", false},
			{"r-huge", "over the 9437184 byte limit", true},
			{"r-base64", "malformed line", false},
			{"", "malformed line of 14 bytes", false},
			{"r-ok-2", "", false},
		}
		var evs []wire.InvocationEvent
		for _, ev := range got {
			if ev.Type != wire.InvocationPing {
				evs = append(evs, ev)
			}
		}
		if len(evs) != len(wants) {
			t.Fatalf("%d events %+v, want %d", len(evs), evs, len(wants))
		}
		for i, w := range wants {
			ev := evs[i]
			if ev.RequestID != w.id || ev.TooLarge != w.tooLarge || !strings.Contains(ev.Unreadable, w.unreadable) || (w.unreadable == "") != (ev.Unreadable == "") {
				t.Errorf("event %d: id %q unreadable %q tooLarge %v, want id %q, a reason with %q, tooLarge %v", i, ev.RequestID, ev.Unreadable, ev.TooLarge, w.id, w.unreadable, w.tooLarge)
			}
			if strings.Contains(ev.Unreadable, "secret") || strings.Contains(ev.Unreadable, "QUJD") {
				t.Errorf("event %d: the reason %q quotes the line", i, ev.Unreadable)
			}
			if w.unreadable == "" && (ev.Function == nil || ev.Function.Name != "f") {
				t.Errorf("event %d: %+v, want the invocation of f", i, ev)
			}
		}
	}

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var got []wire.InvocationEvent
		err := c.FollowInvocations(ctx, "n1", func(ev wire.InvocationEvent) error {
			got = append(got, ev)
			if ev.RequestID == "r-ok-2" {
				cancel()
			}
			return nil
		})
		if ctx.Err() == nil {
			t.Fatalf("the stream ended: %v", err)
		}
		check(t, got)
	})
	t.Run("channel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		evs, errs := c.Invocations(ctx, "n1")
		var got []wire.InvocationEvent
		for ev := range evs {
			got = append(got, ev)
			if ev.RequestID == "r-ok-2" {
				break
			}
		}
		cancel()
		select {
		case err := <-errs:
			if ctx.Err() == nil {
				t.Fatalf("the stream ended: %v", err)
			}
		default:
		}
		check(t, got)
	})
	if opens.Load() != 2 {
		t.Errorf("the stream was opened %d times, want once per form", opens.Load())
	}
}

// lineReader returns lines as they are, cuts a line over its limit to
// its start and reads on after it, and calls a last line without a
// newline an error.
func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := "a\r\nbb\n" + `{"requestId":"r1",` + long + "\n\nlast"
	lr := lineReader{r: bufio.NewReaderSize(strings.NewReader(in), 16), max: 100 << 10}
	type got struct {
		line string
		n    int
	}
	want := []got{{"a", 2}, {"bb", 2}, {(`{"requestId":"r1",` + long)[:badLineKeep], len(long) + 18}, {"", 0}}
	for i, w := range want {
		line, n, err := lr.next()
		if err != nil || string(line) != w.line || n != w.n {
			t.Fatalf("line %d: %.40q (%d bytes of %d) %v, want %.40q (%d bytes of %d)", i, line, len(line), n, err, w.line, len(w.line), w.n)
		}
	}
	if line, _, err := lr.next(); err == nil {
		t.Fatalf("a last line without its newline: %q, want an error", line)
	}
	// Over the limit but within the reader's buffer.
	lr = lineReader{r: bufio.NewReaderSize(strings.NewReader("0123456789\nok\n"), 16), max: 5}
	for _, w := range []got{{"0123456789", 10}, {"ok", 2}} {
		if line, n, err := lr.next(); err != nil || string(line) != w.line || n != w.n {
			t.Fatalf("%q (%d) %v, want %q (%d)", line, n, err, w.line, w.n)
		}
	}
}

// What reading the invocation stream's lines costs per line, lineReader
// against the bufio.Scanner it replaced, on lines the size of a warm
// invocation's (a spec and a small payload, about 400 bytes).
//
//	go test -run '^$' -bench BenchmarkStreamLines -count 5 ./pkg/api/client/
func BenchmarkStreamLines(b *testing.B) {
	line := `{"type":"invoke","requestId":"0123456789abcdef0123456789abcdef","function":{"name":"receipt","arn":"arn:aws:lambda:us-east-1:000000000000:function:receipt","image":"orch-example/receipt:latest","memoryMiB":128,"timeoutSec":3,"revision":"0123456789abcdef"},"payload":"` + strings.Repeat("QUJD", 50) + `"}` + "\n"
	in := strings.Repeat(line, 1000)
	b.Run("bufio.Scanner", func(b *testing.B) {
		for b.Loop() {
			sc := bufio.NewScanner(strings.NewReader(in))
			sc.Buffer(make([]byte, 64<<10), wire.MaxInvocationLine)
			for sc.Scan() {
			}
		}
	})
	b.Run("lineReader", func(b *testing.B) {
		for b.Loop() {
			lr := lineReader{r: bufio.NewReaderSize(strings.NewReader(in), 64<<10), max: wire.MaxInvocationLine}
			for {
				if _, _, err := lr.next(); err != nil {
					break
				}
			}
		}
	})
}

// A line of exactly wire.MaxInvocationLine bytes is an invocation like
// any other (the server sends lines up to that length); one byte more is
// refused as too large, and the stream reads on after either.
func TestInvocationLineAtTheLimit(t *testing.T) {
	const spec = `{"name":"f","arn":"a","image":"i","memoryMiB":128,"timeoutSec":3,"revision":"1"}`
	// The payload's base64 is a multiple of 4 bytes: the id's length
	// makes up the rest, so the line is exactly size bytes long.
	line := func(size int) string {
		head := `{"type":"invoke","requestId":"`
		mid := `","function":` + spec + `,"payload":"`
		tail := `"}`
		fixed := len(head) + len(mid) + len(tail)
		b64 := (size - fixed - 12) / 4 * 4
		id := "at-limit-" + strings.Repeat("x", size-fixed-b64-len("at-limit-"))
		l := head + id + mid + strings.Repeat("QUJD", b64/4) + tail
		if len(l) != size {
			t.Fatalf("built a line of %d bytes, want %d", len(l), size)
		}
		return l
	}
	exact, over := line(wire.MaxInvocationLine), line(wire.MaxInvocationLine+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriter(w)
		for _, l := range []string{exact, over, `{"type":"invoke","requestId":"after","function":` + spec + `}`} {
			fmt.Fprintln(bw, l)
		}
		bw.Flush()
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c := New(Config{Servers: []string{srv.URL}, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []wire.InvocationEvent
	_ = c.FollowInvocations(ctx, "n1", func(ev wire.InvocationEvent) error {
		got = append(got, ev)
		if ev.RequestID == "after" {
			cancel()
		}
		return nil
	})
	if len(got) != 3 {
		t.Fatalf("%d events, want 3 (the line at the limit, the one over it, the next)", len(got))
	}
	if ev := got[0]; ev.Unreadable != "" || ev.Function == nil || len(ev.Payload) < 6<<20 || !strings.HasPrefix(ev.RequestID, "at-limit-") {
		t.Fatalf("the line of exactly %d bytes: unreadable %q, function %v, want an invocation", wire.MaxInvocationLine, ev.Unreadable, ev.Function)
	}
	if ev := got[1]; !ev.TooLarge || !strings.HasPrefix(ev.RequestID, "at-limit-") {
		t.Fatalf("the line of %d bytes: tooLarge %v id %.20q, want it refused as too large with its id", wire.MaxInvocationLine+1, ev.TooLarge, ev.RequestID)
	}
	if got[2].RequestID != "after" || got[2].Unreadable != "" {
		t.Fatalf("the line after: %+v", got[2])
	}
}

// lineReader frames any input as splitting it at its newlines does, for
// any buffer size and limit: each line whole (without "\n" and a "\r"
// before it) and its length, or its first badLineKeep bytes when it is
// over the limit, and the next line starts right after it; a last piece
// without a newline is an error.
//
//	go test -run '^$' -fuzz FuzzLineReader -fuzztime 60s ./pkg/api/client/
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\n"+strings.Repeat("x", 5000)+"\nlast"), uint8(16), uint16(100))
	f.Add([]byte(strings.Repeat("y", 9000)+"\n"+strings.Repeat("z", 4096)+"\n"), uint8(0), uint16(4096))
	f.Fuzz(func(t *testing.T, in []byte, bufSize uint8, max uint16) {
		lr := lineReader{r: bufio.NewReaderSize(bytes.NewReader(in), 16+int(bufSize)), max: int(max)}
		pieces := bytes.Split(in, []byte("\n"))
		for i, want := range pieces[:len(pieces)-1] {
			line, n, err := lr.next()
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if n != len(want) {
				t.Fatalf("line %d: length %d, want %d", i, n, len(want))
			}
			if len(want) > int(max) && len(want) > badLineKeep {
				want = want[:badLineKeep]
			}
			want = bytes.TrimSuffix(want, []byte("\r"))
			if !bytes.Equal(line, want) {
				t.Fatalf("line %d: %.40q (%d bytes), want %.40q (%d bytes)", i, line, len(line), want, len(want))
			}
		}
		if line, _, err := lr.next(); err == nil {
			t.Fatalf("after the last newline: %q, want an error", line)
		}
	})
}
