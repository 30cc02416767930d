package qlog

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The kill -9 test runs this test binary again as a writer (kill9Env names
// its log directory) and kills it while it appends.
const kill9Env = "QLOG_KILL9_DIR"

// kill9Options make the writer roll early every few appends, compact the
// few records it keeps and unlink the rest: the paths a kill must not
// break.
var kill9Options = Options{SegmentBytes: 64 << 10, EarlyRollBytes: 4 << 10}

// kill9Group is append number g of the writer: 10 sends, and the deletes
// of group g-2 unless g-2 is a multiple of 50 (kept: the log is never
// quite drained, so early rolls compact).
func kill9Group(g int) []Record {
	var recs []Record
	for j := range 10 {
		recs = append(recs, send("q", fmt.Sprintf("%d.%d", g, j), strings.Repeat("k", 100)))
	}
	if d := g - 2; d >= 0 && d%50 != 0 {
		for j := range 10 {
			recs = append(recs, del("q", fmt.Sprintf("%d.%d", d, j)))
		}
	}
	return recs
}

// kill9Model is what a replay must hold after groups 0..k were appended.
func kill9Model(k int) []string {
	var out []string
	for g := 0; g <= k; g++ {
		if g <= k-2 && g%50 != 0 {
			continue
		}
		for j := range 10 {
			r := send("q", fmt.Sprintf("%d.%d", g, j), strings.Repeat("k", 100))
			out = append(out, show(&r))
		}
	}
	sort.Strings(out)
	return out
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(kill9Env); dir != "" {
		l, err := Open(dir, kill9Options, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for g := 0; ; g++ {
			if err := l.Append(kill9Group(g)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Fprintf(os.Stdout, "ack %d\n", g) // unbuffered: one write per acknowledgement
		}
	}
	os.Exit(m.Run())
}

// A writer killed with SIGKILL at a random moment, amid early rolls,
// compactions and unlinks, leaves a log that replays every acknowledged
// append and no acknowledged delete undone: the groups up to the last
// acknowledged one, plus at most the one in flight, whole.
func TestKill9AmidEarlyRollsReplaysEveryAcknowledgedAppend(t *testing.T) {
	for round, killAfter := range []int{150, 420, 777, 1000, 1333} {
		t.Run(fmt.Sprint("kill after ", killAfter), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), kill9Env+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := -1
			sc := bufio.NewScanner(out)
			deadline := time.Now().Add(2 * time.Minute)
			for acked < killAfter && sc.Scan() {
				g, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
				if err != nil {
					t.Fatalf("writer said %q", sc.Text())
				}
				acked = g
				if time.Now().After(deadline) {
					t.Fatalf("the writer acknowledged only %d appends in 2 minutes", acked)
				}
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if acked < killAfter {
				t.Fatalf("the writer stopped after %d appends: %s", acked, stderr.String())
			}
			// The writer ran ahead of what was read so far: its last
			// acknowledgement is the last line in the pipe.
			for sc.Scan() {
				if g, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack ")); err == nil {
					acked = g
				}
			}
			_ = cmd.Wait()
			l, got := open(t, dir, kill9Options)
			sort.Strings(got)
			// The writer may have been killed after an append returned and
			// before it printed, or in the middle of the next append.
			match := -1
			for k := acked; k <= acked+1; k++ {
				if strings.Join(got, "\n") == strings.Join(kill9Model(k), "\n") {
					match = k
				}
			}
			if match < 0 {
				t.Fatalf("after kill -9 with %d appends acknowledged, the replay (%d records) matches no acknowledged state (want the model after append %d or %d)",
					acked, len(got), acked, acked+1)
			}
			st := l.Stats()
			t.Logf("round %d: killed after %d acknowledged appends; replay = state after append %d; %d segments, %d bytes on disk", round, acked, match, st.Segments, st.DiskBytes)
			// The recovered log goes on.
			mustAppend(t, l, kill9Group(match+1)...)
		})
	}
}
