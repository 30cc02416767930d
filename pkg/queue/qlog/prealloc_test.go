package qlog

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// copyDir copies the segment files of src into a new directory: the state
// a crash (kill -9, no Close) would leave, with every append synced.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range segFiles(t, src) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// The active segment's file is preallocated ahead of its writes (so an
// append's fdatasync need not flush a new file size); the zeros past its data
// are cut off when the segment is rolled (an older segment ending in zeros
// would be damage on replay) and, after a crash, on replay as a torn tail,
// with every acknowledged record back.
func TestPreallocatedSpaceIsCutAtRollsAndOnReplay(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 16 << 10, PreallocBytes: 4 << 10}
	l, _ := open(t, dir, o)
	body := strings.Repeat("p", 300)
	var want []string
	check := func(stage string) {
		t.Helper()
		files := segFiles(t, dir)
		var data int64
		for i, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if i < len(files)-1 {
				data += fi.Size()
				continue
			}
			active := l.Stats().DiskBytes - data
			if runtime.GOOS == "linux" && fi.Size() <= active {
				t.Fatalf("%s: the active segment's file is %d bytes for %d of data; want it preallocated past its data", stage, fi.Size(), active)
			}
		}
		if data > l.Stats().DiskBytes {
			t.Fatalf("%s: closed segments hold %d bytes on disk, more than the log's %d bytes of data: a rolled segment kept its preallocated zeros", stage, data, l.Stats().DiskBytes)
		}
	}
	for i := range 100 {
		id := fmt.Sprintf("m%03d", i)
		mustAppend(t, l, send("q", id, body))
		want = append(want, "send q "+id+" "+body)
		if i == 3 {
			check("before the first roll")
		}
	}
	if n := len(segFiles(t, dir)); n < 2 {
		t.Fatalf("%d segment files after 100 appends of 16 KiB segments; want rolls", n)
	}
	check("after rolls")

	// A crash: the files as they are, without Close. Replay cuts the
	// zeros and brings back every acknowledged record; appends go on.
	crashed := copyDir(t, dir)
	l2, got := open(t, crashed, o)
	equal(t, got, want)
	for _, f := range segFiles(t, crashed) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] == 0 && strings.Count(string(b[len(b)-headerLen:]), "\x00") == headerLen {
			t.Fatalf("%s still ends in zeros after replay", f)
		}
	}
	mustAppend(t, l2, send("q", "after", body))
	want = append(want, "send q after "+body)
	l2.Close()
	_, got = open(t, crashed, o)
	equal(t, got, want)

	// A clean Close cuts the zeros too.
	l.Close()
	fi, err := os.Stat(segFiles(t, dir)[len(segFiles(t, dir))-1])
	if err != nil {
		t.Fatal(err)
	}
	var closed int64
	for _, f := range segFiles(t, dir)[:len(segFiles(t, dir))-1] {
		st, _ := os.Stat(f)
		closed += st.Size()
	}
	if got := closed + fi.Size(); got != l.Stats().DiskBytes {
		t.Fatalf("after Close the files hold %d bytes; want the log's %d bytes of data", got, l.Stats().DiskBytes)
	}
}

// The space preallocated ahead of the data holds written zeros, not
// fallocate's unwritten extents (which ext4 reports as a hole): an append
// into it then changes no extent, so its fdatasync commits no journal
// transaction (docs/queues.md, "Durability").
func TestPreallocatedSpaceIsWrittenZeros(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SEEK_HOLE as Linux has it")
	}
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentBytes: 1 << 20, PreallocBytes: 64 << 10})
	defer l.Close()
	mustAppend(t, l, send("q", "m1", strings.Repeat("z", 300)))
	files := segFiles(t, dir)
	f, err := os.Open(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data := l.Stats().DiskBytes
	if fi.Size() != 64<<10 {
		t.Fatalf("the active segment's file is %d bytes for %d of data; want it preallocated to %d", fi.Size(), data, 64<<10)
	}
	const seekHole = 4
	hole, err := f.Seek(data, seekHole)
	if err != nil {
		t.Fatal(err)
	}
	if hole != fi.Size() {
		t.Fatalf("the file has a hole (or unwritten extent) at %d, inside its preallocated %d bytes: the space ahead of the data is not written zeros", hole, fi.Size())
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range b[data:] {
		if c != 0 {
			t.Fatalf("byte %d past the data is %#x; want zeros", data+int64(i), c)
		}
	}
}
