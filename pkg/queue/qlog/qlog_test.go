package qlog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func send(q, id, body string) Record { return Record{Kind: Send, Queue: q, ID: id, Data: []byte(body)} }
func del(q, id string) Record        { return Record{Kind: Delete, Queue: q, ID: id} }

// open opens dir and returns the live records replayed, as "kind queue id data".
func open(t *testing.T, dir string, o Options) (*Log, []string) {
	t.Helper()
	var got []string
	l, err := Open(dir, o, func(r *Record) { got = append(got, show(r)) })
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, got
}

func show(r *Record) string {
	if r.Kind == Dedup {
		return fmt.Sprintf("dedup %s %s %s@%d", r.Queue, r.ID, r.DedupMessageID, r.DedupExpiresMs)
	}
	return fmt.Sprintf("send %s %s %s", r.Queue, r.ID, r.Data)
}

func mustAppend(t *testing.T, l *Log, recs ...Record) {
	t.Helper()
	if err := l.Append(recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replayed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func TestAppendReplayKeepsLiveRecordsInOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shard")
	l, got := open(t, dir, Options{})
	equal(t, got, nil)
	mustAppend(t, l, send("q1", "a", "A"), send("q1", "b", "B"), send("q2", "c", "C"))
	mustAppend(t, l, del("q1", "a"), send("q1", "d", "D"))
	mustAppend(t, l, Record{Kind: Dedup, Queue: "q1", ID: "k1", DedupMessageID: "d", DedupExpiresMs: 42})
	mustAppend(t, l, Record{Kind: Dedup, Queue: "q1", ID: "k2", DedupMessageID: "b", DedupExpiresMs: 43}, Record{Kind: DedupDelete, Queue: "q1", ID: "k2"})
	l.Close()

	_, got = open(t, dir, Options{})
	equal(t, got, []string{"send q1 b B", "send q2 c C", "send q1 d D", "dedup q1 k1 d@42"})

	// Files and directory are private to the server's user.
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("log dir mode %v, want 0700", fi.Mode().Perm())
	}
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

func TestPurgeAndDropQueue(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	mustAppend(t, l, send("q1", "a", "A"), send("q2", "b", "B"),
		Record{Kind: Dedup, Queue: "q1", ID: "k", DedupMessageID: "a", DedupExpiresMs: 9},
		Record{Kind: Dedup, Queue: "q2", ID: "k", DedupMessageID: "b", DedupExpiresMs: 9})
	mustAppend(t, l, Record{Kind: Purge, Queue: "q1"}, send("q1", "c", "C"), Record{Kind: DropQueue, Queue: "q2"})
	if got := l.Queues(); strings.Join(got, ",") != "q1" {
		t.Errorf("queues with live records %v, want [q1]", got)
	}
	l.Close()
	_, got := open(t, dir, Options{})
	// A purge removes the messages before it, not the deduplication
	// records; a dropped queue loses everything.
	equal(t, got, []string{"dedup q1 k a@9", "send q1 c C"})
}

func TestTornTailIsCutAtTheLastGoodGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(b []byte) []byte // what the last group's write left
	}{
		{"half written", func(b []byte) []byte { return b[:len(b)-5] }},
		{"only the header", func(b []byte) []byte { return b[:headerLen] }},
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }},
		{"a page missing", func(b []byte) []byte { c := append([]byte{}, b...); clear(c[headerLen+3 : headerLen+9]); return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := open(t, dir, Options{})
			mustAppend(t, l, send("q", "a", "A"), send("q", "b", "B"))
			good := l.Stats().DiskBytes
			mustAppend(t, l, send("q", "c", "C"), del("q", "a"))
			l.Close()
			f := segFiles(t, dir)[0]
			b, _ := os.ReadFile(f)
			b = append(b[:good], tc.tear(b[good:])...)
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			l, got := open(t, dir, Options{})
			equal(t, got, []string{"send q a A", "send q b B"})
			if fi, _ := os.Stat(f); fi.Size() != good {
				t.Errorf("segment is %d bytes after recovery, want cut at %d", fi.Size(), good)
			}
			// The log goes on from there.
			mustAppend(t, l, send("q", "d", "D"))
			l.Close()
			_, got = open(t, dir, Options{})
			equal(t, got, []string{"send q a A", "send q b B", "send q d D"})
		})
	}
}

func TestCorruptionInTheMiddleIsAnErrorNamingFileAndOffset(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	mustAppend(t, l, send("q", "a", "A"))
	at := l.Stats().DiskBytes
	mustAppend(t, l, send("q", "b", "B"))
	mustAppend(t, l, send("q", "c", "C"))
	l.Close()
	f := segFiles(t, dir)[0]
	b, _ := os.ReadFile(f)
	b[at+headerLen+headerLen+3] ^= 0xff // inside the second group's record
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{}, func(*Record) {})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a log damaged in the middle: %v, want ErrCorrupt", err)
	}
	for _, want := range []string{f, fmt.Sprintf("offset %d", at), "checksum"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if fi, _ := os.Stat(f); fi.Size() != int64(len(b)) {
		t.Errorf("the damaged file was changed (size %d, was %d)", fi.Size(), len(b))
	}
}

func TestCorruptionOfAnOlderSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentBytes: 64})
	mustAppend(t, l, send("q", "a", strings.Repeat("A", 60)))
	mustAppend(t, l, send("q", "b", "B"))
	l.Close()
	fs := segFiles(t, dir)
	if len(fs) != 2 {
		t.Fatalf("%d segments, want 2", len(fs))
	}
	b, _ := os.ReadFile(fs[0])
	if err := os.WriteFile(fs[0], b[:len(b)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{SegmentBytes: 64}, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fs[0]) {
		t.Fatalf("a short older segment: %v, want ErrCorrupt naming %s", err, fs[0])
	}
}

func TestRolloverAndUnlinkOfDeadSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 1024}
	l, _ := open(t, dir, o)
	body := strings.Repeat("x", 100)
	for i := range 40 {
		mustAppend(t, l, send("q", fmt.Sprint("m", i), body))
	}
	if n := len(segFiles(t, dir)); n < 4 {
		t.Fatalf("%d segments after 40 appends of ~130 bytes into 1 KiB segments, want several", n)
	}
	for i := range 40 {
		mustAppend(t, l, del("q", fmt.Sprint("m", i)))
	}
	// Every message is gone: what remains is the active segment (and none
	// of the old ones).
	st := l.Stats()
	if st.Segments > 2 || st.LiveBytes != 0 || st.Unlinked == 0 {
		t.Fatalf("after deleting everything: %+v, want at most 2 segments, no live bytes, some unlinked", st)
	}
	if n := len(segFiles(t, dir)); n != st.Segments {
		t.Fatalf("%d segment files, stats say %d", n, st.Segments)
	}
	l.Close()
	_, got := open(t, dir, o)
	equal(t, got, nil)
}

// A tombstone must outlive the record it killed: a segment holding it is
// not unlinked while the older segment with the dead record exists.
func TestTombstonesOutliveTheirMessages(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 256, CompactBelow: 0.0001}
	l, _ := open(t, dir, o)
	body := strings.Repeat("y", 200)
	mustAppend(t, l, send("q", "keep", body))                // segment 1 stays live
	mustAppend(t, l, send("q", "gone", body))                // segment 2
	mustAppend(t, l, del("q", "gone"), send("q", "x", body)) // segment 3: kills segment 2's record
	mustAppend(t, l, del("q", "x"))                          // segment 4 (or 3)
	mustAppend(t, l, send("q", "z", body))
	l.Close()
	_, got := open(t, dir, o)
	equal(t, got, []string{"send q keep " + body, "send q z " + body})
}

func TestCompactionRewritesSparseSegmentsForward(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 4096}
	l, _ := open(t, dir, o)
	body := strings.Repeat("z", 100)
	// Many messages; delete all but every tenth; keep writing so segments
	// roll and compaction has closed segments to work on.
	n := 400
	for i := range n {
		mustAppend(t, l, send("q", fmt.Sprintf("m%04d", i), body))
		if i >= 10 && (i-10)%10 != 0 {
			mustAppend(t, l, del("q", fmt.Sprintf("m%04d", i-10)))
		}
	}
	st := l.Stats()
	if st.Compacted == 0 {
		t.Fatalf("no segment was compacted: %+v", st)
	}
	// Bounded by live data: about 40 live messages of ~140 bytes, plus the
	// tombstones and segments that pin them, not 400 messages of history.
	if st.DiskBytes > 6*st.LiveBytes+2*o.SegmentBytes {
		t.Errorf("disk %d bytes for %d live bytes: not bounded by live data (%+v)", st.DiskBytes, st.LiveBytes, st)
	}
	l.Close()
	_, got := open(t, dir, o)
	var want []string
	for i := range n {
		if i%10 == 0 || i >= n-10 {
			want = append(want, fmt.Sprintf("send q m%04d %s", i, body))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	equal(t, got, want)
}

func TestAppendAfterCloseFails(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{})
	l.Close()
	if err := l.Append([]Record{send("q", "a", "A")}); err == nil {
		t.Fatal("Append after Close succeeded")
	}
}

func FuzzReplayNeverPanics(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(dir, Options{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	_ = l.Append([]Record{send("q", "a", "A"), del("q", "b"), {Kind: Dedup, Queue: "q", ID: "k", DedupMessageID: "a", DedupExpiresMs: 1}})
	l.Close()
	b, _ := os.ReadFile(filepath.Join(dir, segName(1)))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, segName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(d, Options{}, func(*Record) {})
		if err == nil {
			l.Close()
		}
	})
}

// Random sends, deletes, re-claimed deduplication keys, purges and
// dropped queues against a model, with tiny segments so rollover,
// unlinking and compaction run all the time; every reopen must replay
// exactly the model, and the disk must stay bounded by the live data.
func TestRandomHistoryReplaysTheModel(t *testing.T) {
	for seed := range int64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			dir := t.TempDir()
			o := Options{SegmentBytes: 2048}
			l, _ := open(t, dir, o)
			model := map[string]string{} // "send q id" / "dedup q k" → shown record
			var keys []string
			queues := []string{"qa", "qb", "qc"}
			next := 0
			for step := range 1500 {
				var recs []Record
				for range 1 + rng.IntN(4) {
					q := queues[rng.IntN(len(queues))]
					switch x := rng.IntN(100); {
					case x < 45:
						next++
						r := send(q, fmt.Sprint("m", next), strings.Repeat("b", rng.IntN(80)))
						recs = append(recs, r)
						model["send "+q+" "+r.ID] = show(&r)
						keys = append(keys, "send "+q+" "+r.ID)
					case x < 55:
						r := Record{Kind: Dedup, Queue: q, ID: fmt.Sprint("k", rng.IntN(20)), DedupMessageID: "m", DedupExpiresMs: int64(step)}
						recs = append(recs, r)
						model["dedup "+q+" "+r.ID] = show(&r)
						keys = append(keys, "dedup "+q+" "+r.ID)
					case x < 62:
						k := fmt.Sprint("k", rng.IntN(20))
						recs = append(recs, Record{Kind: DedupDelete, Queue: q, ID: k})
						delete(model, "dedup "+q+" "+k)
					case x < 98:
						if len(keys) == 0 {
							continue
						}
						i := rng.IntN(len(keys))
						k := keys[i]
						keys = append(keys[:i], keys[i+1:]...)
						f := strings.Fields(k)
						if _, ok := model[k]; !ok || f[0] != "send" {
							continue
						}
						recs = append(recs, del(f[1], f[2]))
						delete(model, k)
					case x < 99:
						recs = append(recs, Record{Kind: Purge, Queue: q})
						for k := range model {
							if strings.HasPrefix(k, "send "+q+" ") {
								delete(model, k)
							}
						}
					default:
						recs = append(recs, Record{Kind: DropQueue, Queue: q})
						for k := range model {
							if strings.Fields(k)[1] == q {
								delete(model, k)
							}
						}
					}
				}
				mustAppend(t, l, recs...)
				if step%500 == 499 {
					l.Close()
					var got []string
					l, got = open(t, dir, o)
					var want []string
					for _, v := range model {
						want = append(want, v)
					}
					sort.Strings(got)
					sort.Strings(want)
					equal(t, got, want)
					st := l.Stats()
					t.Logf("step %d: %+v", step, st)
					if st.DiskBytes > 8*st.LiveBytes+8*o.SegmentBytes {
						t.Fatalf("step %d: %d bytes on disk for %d live: %+v", step, st.DiskBytes, st.LiveBytes, st)
					}
				}
			}
		})
	}
}
