package qlog

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// diskBytes is what the log's directory holds on disk: the sum of its
// segment files' sizes, as ls would show them (not the log's own count).
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// A drained log is small: with the default options, after megabytes of
// traffic through a queue and then the deletion of everything, the files
// left hold less than EarlyRollBytes (1 MiB), the bound docs/queues.md
// gives per shard, not a 64 MiB segment of dead records. It stays so after
// a restart.
func TestDrainedLogFallsUnderTheEarlyRollBound(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	body := strings.Repeat("b", 100)
	const groups, per, lag = 300, 100, 3 // 30,000 messages of ~120 bytes, deleted 3 groups behind
	id := func(g, i int) string { return fmt.Sprintf("m%d.%d", g, i) }
	for g := range groups + lag {
		var recs []Record
		if g < groups {
			for i := range per {
				recs = append(recs, send("q", id(g, i), body))
			}
		}
		if g >= lag {
			for i := range per {
				recs = append(recs, del("q", id(g-lag, i)))
			}
		}
		mustAppend(t, l, recs...)
	}
	st := l.Stats()
	if st.Bytes < 3<<20 {
		t.Fatalf("the test wrote only %d bytes; it needs several times the 1 MiB bound", st.Bytes)
	}
	if st.EarlyRolls == 0 || st.LiveBytes != 0 {
		t.Fatalf("after the drain: %+v, want early rolls and no live bytes", st)
	}
	const bound = 1 << 20
	if n := diskBytes(t, dir); n >= bound {
		t.Fatalf("a drained log holds %d bytes on disk (%+v), want under %d", n, st, bound)
	}
	l.Close()
	_, got := open(t, dir, Options{})
	equal(t, got, nil)
	if n := diskBytes(t, dir); n >= bound {
		t.Fatalf("after a restart a drained log holds %d bytes, want under %d", n, bound)
	}
}

// A log that still holds a few messages among much dead history rolls its
// active segment early too, and the few live records are carried forward
// by compaction: the disk follows the live data, not SegmentBytes.
func TestNearlyDrainedLogCarriesItsFewLiveRecordsForward(t *testing.T) {
	dir := t.TempDir()
	o := Options{EarlyRollBytes: 64 << 10}
	l, _ := open(t, dir, o)
	body := strings.Repeat("c", 100)
	keep := []string{"keep0", "keep1", "keep2"}
	for _, k := range keep {
		mustAppend(t, l, send("q", k, body))
	}
	for g := range 200 {
		var recs []Record
		for i := range 50 {
			recs = append(recs, send("q", fmt.Sprintf("m%d.%d", g, i), body))
		}
		mustAppend(t, l, recs...)
		recs = recs[:0]
		for i := range 50 {
			recs = append(recs, del("q", fmt.Sprintf("m%d.%d", g, i)))
		}
		mustAppend(t, l, recs...)
	}
	st := l.Stats()
	if st.EarlyRolls == 0 || st.Compacted == 0 {
		t.Fatalf("%+v: want early rolls and compactions", st)
	}
	// Closed segments are at least CompactBelow (1/4) live or about to be
	// compacted; the active one is under EarlyRollBytes unless dense.
	if n := diskBytes(t, dir); n > o.EarlyRollBytes+4*st.LiveBytes+4096 {
		t.Fatalf("%d bytes on disk for %d live bytes (%+v): not bounded by EarlyRollBytes + 4 x live", n, st.LiveBytes, st)
	}
	l.Close()
	_, got := open(t, dir, o)
	var want []string
	for _, k := range keep {
		want = append(want, "send q "+k+" "+body)
	}
	equal(t, got, want)
}

// A crash at every change of the log's directory (a segment created by a
// roll, early or not; a segment unlinked after it died, after an early
// roll, or after a compaction; and each directory fsync, taken both with
// and without the unlink it would have made durable, since a power loss
// may undo an unsynced unlink) must replay what was acknowledged: every
// group whose Append returned, and the group in flight either whole or not
// at all. The histories drain now and then, which is when the active
// segment rolls early.
func TestCrashAtEveryDirectoryChangeReplaysTheModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"early rolls only", Options{SegmentBytes: 1 << 20, EarlyRollBytes: 512}},
		{"early and full rolls", Options{SegmentBytes: 2048, EarlyRollBytes: 400}},
		// Rare compaction keeps closed segments with a few live records
		// around, so tombstones pin their segments.
		{"early rolls among pinned segments", Options{SegmentBytes: 1024, EarlyRollBytes: 300, CompactBelow: 0.05}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			dir, aside := t.TempDir(), t.TempDir()
			o := tc.o
			model := map[string]string{}
			var before []string // the model before the group in flight
			var pending []string
			inCrash, crashes := false, 0
			// check opens a copy of the directory (plus the unsynced unlinks,
			// if undo) as a crash at this moment would leave it.
			check := func(what string, undo bool) {
				inCrash = true
				defer func() { inCrash = false }()
				crashes++
				snap := t.TempDir()
				files := segFiles(t, dir)
				if undo {
					for _, p := range pending {
						files = append(files, filepath.Join(aside, p))
					}
				}
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(snap, filepath.Base(f)), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				var got []string
				l, err := Open(snap, o, func(r *Record) { got = append(got, show(r)) })
				if err != nil {
					t.Fatalf("open after a crash %s: %v", what, err)
				}
				l.Close()
				sort.Strings(got)
				after := values(model)
				if g := strings.Join(got, "\n"); g != strings.Join(before, "\n") && g != strings.Join(after, "\n") {
					t.Fatalf("after a crash %s (%d crash points so far) replayed:\n%s\nwant the model before the group in flight:\n%s\nor after it:\n%s",
						what, crashes, g, strings.Join(before, "\n"), strings.Join(after, "\n"))
				}
			}
			hook(t, &unlink, func(name string) error {
				if inCrash {
					return os.Remove(name)
				}
				check("before unlinking "+filepath.Base(name), false)
				if err := os.Rename(name, filepath.Join(aside, filepath.Base(name))); err != nil {
					return err
				}
				pending = append(pending, filepath.Base(name))
				return nil
			})
			hook(t, &dirSync, func(d string) error {
				if inCrash {
					return syncDir(d)
				}
				check("before a directory sync", false)
				if len(pending) > 0 {
					check("before a directory sync, its unlinks undone", true)
				}
				if err := syncDir(d); err != nil {
					return err
				}
				for _, p := range pending {
					os.Remove(filepath.Join(aside, p))
				}
				pending = nil
				return nil
			})
			l, _ := open(t, dir, o)
			var ids []string
			next := 0
			for i := range 900 {
				before = values(model)
				var recs []Record
				if i%300 == 299 { // drain: delete every message and deduplication key
					for _, id := range ids {
						recs = append(recs, del("q", id))
					}
					ids = nil
					for k := range model {
						if strings.HasPrefix(k, "d") {
							recs = append(recs, Record{Kind: DedupDelete, Queue: "q", ID: k[1:]})
						}
					}
					clear(model)
				} else {
					recs = randomGroup(rng, model, &ids, &next)
				}
				if len(recs) == 0 {
					continue
				}
				mustAppend(t, l, recs...)
			}
			st := l.Stats()
			if st.EarlyRolls == 0 || st.Unlinked == 0 {
				t.Fatalf("the history never rolled early or unlinked: %+v", st)
			}
			t.Logf("%d crash points checked, %+v", crashes, st)
		})
	}
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// randomGroup makes one Append's records (sends, updates, deduplication
// records, deletes) and applies them to model (key "m"+id or "d"+key).
func randomGroup(rng *rand.Rand, model map[string]string, ids *[]string, next *int) []Record {
	var recs []Record
	for range 1 + rng.IntN(3) {
		switch x := rng.IntN(100); {
		case x < 40:
			*next++
			r := send("q", fmt.Sprint("m", *next), strings.Repeat("b", rng.IntN(120)))
			recs = append(recs, r)
			model["m"+r.ID] = show(&r)
			*ids = append(*ids, r.ID)
		case x < 55 && len(*ids) > 0: // an update (visibility, receive count) of a live message
			id := (*ids)[rng.IntN(len(*ids))]
			if _, ok := model["m"+id]; !ok {
				continue
			}
			r := send("q", id, strings.Repeat("u", rng.IntN(60)))
			recs = append(recs, r)
			model["m"+id] = show(&r)
		case x < 65:
			k := fmt.Sprint("k", rng.IntN(15))
			r := Record{Kind: Dedup, Queue: "q", ID: k, DedupMessageID: "m", DedupExpiresMs: int64(x)}
			recs = append(recs, r)
			model["d"+k] = show(&r)
		case x < 70:
			k := fmt.Sprint("k", rng.IntN(15))
			recs = append(recs, Record{Kind: DedupDelete, Queue: "q", ID: k})
			delete(model, "d"+k)
		case len(*ids) > 0:
			i := rng.IntN(len(*ids))
			id := (*ids)[i]
			*ids = append((*ids)[:i], (*ids)[i+1:]...)
			recs = append(recs, del("q", id))
			delete(model, "m"+id)
		}
	}
	return recs
}
