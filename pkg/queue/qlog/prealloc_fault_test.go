package qlog

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Faults around preallocation (an adversarial review of it). These tests
// swap the file-operation variables, so none of them may run in parallel.

// A preallocation can fail part way: ext4's fallocate, out of space, keeps
// the blocks it got and the file's new size up to them, and returns ENOSPC.
// The file is then longer than the data, with zeros the log did not count
// as preallocated. A roll must still cut them off (an older segment ending
// in zeros is damage on replay: the next start would refuse, telling the
// operator to move the file aside, acknowledged records and all), and so
// must Close.
func TestPartialPreallocationIsCutAtRollAndClose(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 4096, PreallocBytes: 1024}
	hook(t, &preallocFile, func(f *os.File, off, n int64) error {
		// All but its last byte, as ftruncate (zeros, on every file
		// system), then the error.
		if err := f.Truncate(off + n - 1); err != nil {
			return err
		}
		return syscall.ENOSPC
	})
	l, _ := open(t, dir, o)
	body := strings.Repeat("z", 200)
	var want []string
	for i := range 60 {
		id := fmt.Sprintf("m%02d", i)
		mustAppend(t, l, send("q", id, body))
		want = append(want, "send q "+id+" "+body)
	}
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("%d segments; the test needs rolls", n)
	}
	crashed := copyDir(t, dir) // a kill -9 now
	_, got := open(t, crashed, o)
	equal(t, got, want)
	l.Close()
	_, got = open(t, dir, o)
	equal(t, got, want)
}

// Close cuts the active segment's preallocated zeros without a sync. When
// the next Open finds that segment full, it creates the next one and the log
// writes on there; a power loss can then undo the unsynced cut, and the
// zeros are back at the end of what is now an older segment: damage, and
// the start after fails.
func TestCloseCutIsDurableBeforeOpenRollsPastAFullSegment(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 256, PreallocBytes: 4096}
	l, _ := open(t, dir, o)
	big := strings.Repeat("B", 300) // the segment's first group, over SegmentBytes
	mustAppend(t, l, send("q", "big", big))
	pc := newPageCache(t)
	l.Close()
	l, _ = open(t, dir, o) // the newest segment is full: the log rolls
	mustAppend(t, l, send("q", "next", "N"))
	if n := len(segFiles(t, dir)); n != 2 {
		t.Fatalf("%d segments, want 2 (a roll at open)", n)
	}
	l.Close()
	pc.powerLoss(t)
	_, got := open(t, dir, o)
	equal(t, got, []string{"send q big " + big, "send q next N"})
}

// A power loss during an append's fdatasync can leave any subset of the
// group's blocks on disk. With the segment preallocated the group's later
// blocks are inside the file (before, they were past its durable size), so
// the first block, with the group's header, can be lost while a later one
// is there: zeros where the header should be, then bytes of the group, then
// the preallocated zeros. That group was never acknowledged; it is a torn
// tail, not damage, or the server refuses to start after a power loss.
//
// What still is damage: a zero header followed by a good group (data after
// it was acknowledged), or by the group's records all there.
func TestTornGroupWithItsFirstBlockLostIsATornTail(t *testing.T) {
	const block = 4096
	setup := func(t *testing.T) (dir, f string, good int64) {
		dir = t.TempDir()
		l, _ := open(t, dir, Options{})
		mustAppend(t, l, send("q", "a", strings.Repeat("A", 1000)))
		mustAppend(t, l, send("q", "b", "B"))
		good = l.Stats().DiskBytes
		if good%block+headerLen >= block {
			t.Fatalf("the test needs the in-flight group's records to start in its header's block (at %d)", good)
		}
		// The group in flight: three blocks' worth.
		mustAppend(t, l, send("q", "c", strings.Repeat("C", 3000)), send("q", "d", strings.Repeat("D", 3000)), send("q", "e", strings.Repeat("E", 3000)))
		snap := copyDir(t, dir) // a crash: no Close, the zeros past the data stay
		f = segFiles(t, snap)[0]
		return snap, f, good
	}
	loseFirstBlock := func(t *testing.T, f string, good int64) []byte {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		clear(b[good : (good/block+1)*block]) // the block's old content: acknowledged data, then zeros
		return b
	}

	t.Run("torn", func(t *testing.T) {
		dir, f, good := setup(t)
		if err := os.WriteFile(f, loseFirstBlock(t, f, good), 0o600); err != nil {
			t.Fatal(err)
		}
		l, got := open(t, dir, Options{})
		equal(t, got, []string{"send q a " + strings.Repeat("A", 1000), "send q b B"})
		if fi, _ := os.Stat(f); fi.Size() != good {
			t.Errorf("segment is %d bytes after recovery, want cut at %d", fi.Size(), good)
		}
		mustAppend(t, l, send("q", "f", "F"))
		l.Close()
		_, got = open(t, dir, Options{})
		equal(t, got, []string{"send q a " + strings.Repeat("A", 1000), "send q b B", "send q f F"})
	})
	t.Run("a good group follows", func(t *testing.T) {
		dir, f, good := setup(t)
		b := loseFirstBlock(t, f, good)
		// An acknowledged group after the damaged one.
		l2dir := t.TempDir()
		l2, _ := open(t, l2dir, Options{})
		mustAppend(t, l2, send("q", "later", "L"))
		l2.Close()
		later, err := os.ReadFile(segFiles(t, l2dir)[0])
		if err != nil {
			t.Fatal(err)
		}
		_, end, _ := endOfGroups(t, f)
		copy(b[end:], later)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}, func(*Record) {}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", good)) {
			t.Fatalf("Open with a zeroed header before a good group: %v, want ErrCorrupt at offset %d", err, good)
		}
	})
	t.Run("its records all there", func(t *testing.T) {
		dir, f, good := setup(t)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		clear(b[good : good+headerLen]) // only the header lost
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}, func(*Record) {}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", good)) {
			t.Fatalf("Open with a zeroed header before its whole group: %v, want ErrCorrupt at offset %d", err, good)
		}
	})
}

// endOfGroups walks the good groups of segment file f and returns how many
// there are and where they end.
func endOfGroups(t *testing.T, f string) (int, int64, []byte) {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	n := 0
	for off < int64(len(b)) {
		end, err := groupAt(b, off)
		if err != nil {
			break
		}
		off = end
		n++
	}
	return n, off, b
}

// Where the file system cannot preallocate (EOPNOTSUPP, ENOSYS; not Linux),
// the log stops asking after the first refusal instead of making a failing
// system call per append, and writes extend the file as before.
func TestUnsupportedPreallocationIsAskedOnce(t *testing.T) {
	dir := t.TempDir()
	calls := 0
	hook(t, &preallocFile, func(f *os.File, off, n int64) error {
		calls++
		return syscall.EOPNOTSUPP
	})
	o := Options{SegmentBytes: 2048, PreallocBytes: 1024}
	l, _ := open(t, dir, o)
	var want []string
	for i := range 30 {
		id := fmt.Sprintf("m%02d", i)
		mustAppend(t, l, send("q", id, "body"))
		want = append(want, "send q "+id+" body")
	}
	if calls != 1 {
		t.Errorf("fallocate was tried %d times; want once (it is not supported)", calls)
	}
	l.Close()
	_, got := open(t, dir, o)
	equal(t, got, want)
}

// A roll cuts the closed segment's preallocated zeros and syncs the cut
// before the next segment exists: a power loss that undoes every unsynced
// truncation (here after many rolls, early and full, and a Close whose own
// cut is not synced) leaves zeros at most at the end of the newest segment,
// and the log replays every acknowledged record.
func TestPowerLossAfterRollsKeepsZerosOnlyInTheNewestSegment(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 8 << 10, EarlyRollBytes: 2 << 10, PreallocBytes: 1 << 10}
	pc := newPageCache(t)
	l, _ := open(t, dir, o)
	body := strings.Repeat("r", 150)
	var want []string
	for i := range 200 {
		id := fmt.Sprintf("m%03d", i)
		mustAppend(t, l, send("q", id, body))
		if i%40 == 39 { // drained now and then: early rolls
			for j := i - 39; j <= i; j++ {
				mustAppend(t, l, del("q", fmt.Sprintf("m%03d", j)))
			}
			want = nil
			continue
		}
		want = append(want, "send q "+id+" "+body)
	}
	st := l.Stats()
	if st.EarlyRolls == 0 || st.Unlinked == 0 {
		t.Fatalf("the history never rolled early or unlinked: %+v", st)
	}
	l.Close()
	pc.powerLoss(t)
	_, got := open(t, dir, o)
	equal(t, got, want)
}
