package qlog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// Fault injection through the file-operation variables of qlog.go. The
// tests here swap them, so none of them may run in parallel.

// hook replaces *v with f for the rest of the test.
func hook[T any](t *testing.T, v *T, f T) {
	t.Helper()
	old := *v
	*v = f
	t.Cleanup(func() { *v = old })
}

// A power loss may keep any subset of the directory changes made since the
// directory was last fsynced. Here the unlinks of segments are held back
// until a directory sync (the file moved aside), and the "power loss" brings
// back the oldest one not yet synced while the later ones stay done. A
// deleted message must not come back.
func TestUnlinkedSegmentBackAfterPowerLossDoesNotResurrectDeletes(t *testing.T) {
	dir := t.TempDir()
	aside := t.TempDir()
	var pending []string // unlinked names whose removal no directory sync has made durable
	hook(t, &unlink, func(name string) error {
		if err := os.Rename(name, filepath.Join(aside, filepath.Base(name))); err != nil {
			return err
		}
		pending = append(pending, filepath.Base(name))
		return nil
	})
	hook(t, &dirSync, func(d string) error {
		if err := syncDir(d); err != nil {
			return err
		}
		pending = nil
		return nil
	})

	o := Options{SegmentBytes: 256, CompactBelow: 0.0001}
	l, err := Open(dir, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	b100, b200 := strings.Repeat("y", 100), strings.Repeat("x", 200)
	mustAppend(t, l, send("q", "keep", b100))                           // segment 1 stays live
	mustAppend(t, l, send("q", "gone", b100), send("q", "other", b100)) // segment 2
	mustAppend(t, l, del("q", "gone"), send("q", "x", b200))            // segment 3: kills a record of segment 2
	// Segment 4 kills the rest of 2 and 3: both go in one reclaim, 2 first
	// (which releases the pin on 3), with no directory sync between them.
	mustAppend(t, l, del("q", "other"), del("q", "x"))
	if st := l.Stats(); st.Unlinked != 2 || st.Segments != 2 {
		t.Fatalf("the scenario needs segments 2 and 3 unlinked by the last append: %+v", st)
	}
	l.Close()

	// Power loss: the oldest unlink not yet made durable is undone.
	if len(pending) > 0 {
		if err := os.Rename(filepath.Join(aside, pending[0]), filepath.Join(dir, pending[0])); err != nil {
			t.Fatal(err)
		}
	}
	_, got := open(t, dir, o)
	equal(t, got, []string{"send q keep " + b100})
}

// After a failed fdatasync the file's state is unknown (the kernel may
// have dropped the dirty pages and will report success next time): the log
// must refuse further appends until reopened, and the reopened log holds
// every acknowledged record and nothing of the failed group.
func TestFailedFdatasyncBreaksTheLogUntilReopened(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	mustAppend(t, l, send("q", "a", "A"))
	fail := true
	hook(t, &datasync, func(f *os.File) error {
		if fail {
			fail = false
			return syscall.EIO
		}
		return fdatasync(f)
	})
	if err := l.Append([]Record{send("q", "b", "B")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append whose fdatasync failed: %v, want EIO", err)
	}
	if err := l.Append([]Record{send("q", "c", "C")}); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append after a failed fdatasync: %v, want ErrBroken (the file state is unknown)", err)
	}
	l.Close()
	l, got := open(t, dir, Options{})
	equal(t, got, []string{"send q a A"})
	mustAppend(t, l, send("q", "d", "D"))
	l.Close()
	_, got = open(t, dir, Options{})
	equal(t, got, []string{"send q a A", "send q d D"})
}

// A write cut short by a full disk is cut off the segment: the log goes on
// once there is room, and a replay sees no half group.
func TestShortWriteOnFullDiskIsCutOff(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	mustAppend(t, l, send("q", "a", "A"))
	good := l.Stats().DiskBytes
	full := true
	hook(t, &writeFile, func(f *os.File, b []byte) (int, error) {
		if full {
			n, err := f.Write(b[:len(b)/2])
			if err == nil {
				err = syscall.ENOSPC
			}
			return n, err
		}
		return f.Write(b)
	})
	if err := l.Append([]Record{send("q", "b", strings.Repeat("B", 100))}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: %v, want ENOSPC", err)
	}
	if fi, err := os.Stat(segFiles(t, dir)[0]); err != nil || fi.Size() != good {
		t.Fatalf("segment after the short write: %v, %v; want cut back to %d bytes", fi.Size(), err, good)
	}
	full = false
	mustAppend(t, l, send("q", "c", "C"))
	l.Close()
	_, got := open(t, dir, Options{})
	equal(t, got, []string{"send q a A", "send q c C"})
}

// A segment's name is durable in the directory before a record written to
// it is acknowledged: a failed directory sync fails the append that rolls.
func TestRollFailsWhenTheNewSegmentsNameIsNotDurable(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 64}
	l, _ := open(t, dir, o)
	mustAppend(t, l, send("q", "a", strings.Repeat("A", 60)))
	broken := true
	hook(t, &dirSync, func(d string) error {
		if broken {
			return syscall.EIO
		}
		return syncDir(d)
	})
	if err := l.Append([]Record{send("q", "b", "B")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append into a new segment whose directory sync failed: %v, want EIO", err)
	}
	// Once the directory works again the log rolls into the same name (the
	// failed roll left no file behind to collide with).
	broken = false
	mustAppend(t, l, send("q", "c", "C"))
	l.Close()
	_, got := open(t, dir, o)
	equal(t, got, []string{"send q a " + strings.Repeat("A", 60), "send q c C"})
}

// pageCache models a power loss for truncations: a truncation not followed
// by a sync of the same file may be undone (the file comes back with the
// bytes it had).
type pageCache struct {
	before map[string][]byte // file → its content before an unsynced truncation
}

func newPageCache(t *testing.T) *pageCache {
	pc := &pageCache{before: map[string][]byte{}}
	hook(t, &truncateFile, func(f *os.File, size int64) error {
		if _, ok := pc.before[f.Name()]; !ok {
			b, err := os.ReadFile(f.Name())
			if err != nil {
				return err
			}
			pc.before[f.Name()] = b
		}
		return f.Truncate(size)
	})
	hook(t, &datasync, func(f *os.File) error {
		if err := fdatasync(f); err != nil {
			return err
		}
		delete(pc.before, f.Name())
		return nil
	})
	return pc
}

func (pc *pageCache) powerLoss(t *testing.T) {
	t.Helper()
	for name, b := range pc.before {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The torn tail cut at open must be durable before the log writes on in a
// new segment: else, after a power loss, the torn group is back in a segment
// that is no longer the newest, which is damage in the middle and the next
// start fails.
func TestTornTailCutIsDurableBeforeTheLogRolls(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 200}
	l, _ := open(t, dir, o)
	mustAppend(t, l, send("q", "a", strings.Repeat("A", 100)))
	good := l.Stats().DiskBytes
	mustAppend(t, l, send("q", "b", strings.Repeat("B", 50)))
	l.Close()
	f := segFiles(t, dir)[0]
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, b[:len(b)-5], 0o600); err != nil { // torn: never acknowledged
		t.Fatal(err)
	}
	pc := newPageCache(t)
	l, _ = open(t, dir, o)
	if fi, _ := os.Stat(f); fi.Size() != good {
		t.Fatalf("torn tail not cut: %d bytes, want %d", fi.Size(), good)
	}
	mustAppend(t, l, send("q", "c", strings.Repeat("C", 150))) // rolls into segment 2
	if n := len(segFiles(t, dir)); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
	l.Close()
	pc.powerLoss(t)
	_, got := open(t, dir, o)
	equal(t, got, []string{"send q a " + strings.Repeat("A", 100), "send q c " + strings.Repeat("C", 150)})
}

// Likewise the cut of a group whose write failed (a full disk) must be
// durable before the log rolls past that segment.
func TestFailedWriteCutIsDurableBeforeTheLogRolls(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 200}
	l, _ := open(t, dir, o)
	mustAppend(t, l, send("q", "a", strings.Repeat("A", 100)))
	pc := newPageCache(t)
	full := true
	hook(t, &writeFile, func(f *os.File, b []byte) (int, error) {
		if full {
			n, _ := f.Write(b[:len(b)/2])
			return n, syscall.ENOSPC
		}
		return f.Write(b)
	})
	if err := l.Append([]Record{send("q", "b", strings.Repeat("B", 50))}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: %v, want ENOSPC", err)
	}
	full = false
	mustAppend(t, l, send("q", "c", strings.Repeat("C", 150))) // rolls into segment 2
	l.Close()
	pc.powerLoss(t)
	_, got := open(t, dir, o)
	equal(t, got, []string{"send q a " + strings.Repeat("A", 100), "send q c " + strings.Repeat("C", 150)})
}

// The log's directory, when Open creates it (and any missing parent), must
// be durable in its parent before a record in it is acknowledged: else a
// power loss can take the whole directory, segments and all, with it.
func TestOpenMakesTheDirectoriesItCreatesDurable(t *testing.T) {
	root := t.TempDir()
	synced := map[string]bool{}
	hook(t, &dirSync, func(d string) error {
		synced[filepath.Clean(d)] = true
		return syncDir(d)
	})
	dir := filepath.Join(root, "queues", "shard-00")
	l, err := Open(dir, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustAppend(t, l, send("q", "a", "A"))
	for _, d := range []string{root, filepath.Join(root, "queues"), dir} {
		if !synced[d] {
			t.Errorf("directory %s was not fsynced (synced: %v)", d, synced)
		}
	}
}

// A crash just before any segment is unlinked (after a compaction wrote
// the segment's records forward, or after its last record died) must
// replay exactly what was acknowledged: no loss, no deleted record back.
// The crash is taken as a copy of the segment files at that moment.
func TestCrashBeforeEachUnlinkReplaysTheModel(t *testing.T) {
	for seed := range int64(2) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 11))
			dir := t.TempDir()
			o := Options{SegmentBytes: 1024}
			model := map[string]string{}
			inCrash, crashes := false, 0
			hook(t, &unlink, func(name string) error {
				if !inCrash {
					inCrash = true
					crashes++
					snap := t.TempDir()
					for _, f := range segFiles(t, dir) {
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
						t.Fatalf("open after a crash before unlinking %s: %v", filepath.Base(name), err)
					}
					l.Close()
					var want []string
					for _, v := range model {
						want = append(want, v)
					}
					sort.Strings(got)
					sort.Strings(want)
					equal(t, got, want)
					inCrash = false
				}
				return os.Remove(name)
			})
			l, _ := open(t, dir, o)
			var ids []string
			next := 0
			for range 800 {
				var recs []Record
				for range 1 + rng.IntN(3) {
					switch x := rng.IntN(100); {
					case x < 40:
						next++
						r := send("q", fmt.Sprint("m", next), strings.Repeat("b", rng.IntN(120)))
						recs = append(recs, r)
						model["m"+r.ID] = show(&r)
						ids = append(ids, r.ID)
					case x < 55 && len(ids) > 0: // an update (visibility, receive count) of a live message
						id := ids[rng.IntN(len(ids))]
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
					case len(ids) > 0:
						i := rng.IntN(len(ids))
						id := ids[i]
						ids = append(ids[:i], ids[i+1:]...)
						recs = append(recs, del("q", id))
						delete(model, "m"+id)
					}
				}
				mustAppend(t, l, recs...)
			}
			if crashes == 0 || l.Stats().Compacted == 0 {
				t.Fatalf("the history never unlinked or compacted (%d crashes, %+v)", crashes, l.Stats())
			}
			t.Logf("%d crashes checked, %+v", crashes, l.Stats())
		})
	}
}

// A record replay would refuse as damage (longer than maxRecord) must be
// refused by Append, not acknowledged and then fail the next start.
func TestAppendRefusesARecordReplayWouldRefuse(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	mustAppend(t, l, send("q", "a", "A"))
	err := l.Append([]Record{send("q", "big", strings.Repeat("x", maxRecord))})
	if err == nil || !strings.Contains(err.Error(), "big") {
		t.Fatalf("Append of a record over %d bytes: %v, want an error naming it", maxRecord, err)
	}
	mustAppend(t, l, send("q", "b", "B"))
	l.Close()
	_, got := open(t, dir, Options{})
	equal(t, got, []string{"send q a A", "send q b B"})
}

// Damage to the header of an acknowledged group in the newest segment (a
// bit flipped in its length, so that it seems to run past the end of the
// file, or in its checksum) is not a torn tail: the group's records are all
// there, and so may be good groups after it. Open must refuse, not cut them
// off.
func TestDamagedGroupLengthInTheNewestSegmentIsNotATornTail(t *testing.T) {
	for _, which := range []string{"middle group", "last group"} {
		t.Run(which, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := open(t, dir, Options{})
			mustAppend(t, l, send("q", "a", "A"))
			at := l.Stats().DiskBytes
			mustAppend(t, l, send("q", "b", "B"), send("q", "c", "C"))
			if which == "middle group" {
				mustAppend(t, l, send("q", "d", "D"))
			}
			l.Close()
			f := segFiles(t, dir)[0]
			b, _ := os.ReadFile(f)
			for _, field := range []struct {
				name string
				at   int64
			}{{"length", 2}, {"checksum", 5}} {
				c := append([]byte{}, b...)
				c[at+field.at] ^= 0x10 // the length grows by 1 MiB; the checksum is wrong
				if err := os.WriteFile(f, c, 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := Open(dir, Options{}, func(*Record) {})
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", at)) {
					t.Fatalf("Open with the group's %s damaged: %v, want ErrCorrupt at offset %d", field.name, err, at)
				}
				if fi, _ := os.Stat(f); fi.Size() != int64(len(b)) {
					t.Fatalf("the file with a damaged group %s was cut to %d bytes (was %d)", field.name, fi.Size(), len(b))
				}
			}
		})
	}
}
