package qlog

import (
	"fmt"
	"os"
)

// zeros is what zeroFill writes from (shared, never written to).
var zeros [64 << 10]byte

// zeroFill extends f by n bytes of written zeros from off on. Unlike
// fallocate, whose blocks stay "unwritten" extents until data lands in
// them (so each append's fdatasync must journal the extent's conversion
// and wait for that journal commit), blocks holding written zeros are
// plain allocated blocks: an append that overwrites them changes no
// metadata fdatasync cares about (only mtime, which it skips), so its
// fdatasync writes the data and flushes the disk cache without a journal
// commit. The zeros cost one extra write of each block (256 KiB at a
// time, about 700 single messages) and are made durable, with the new
// size, by the next append's fdatasync, as fallocate's were. A write cut
// short (ENOSPC) leaves the file extended part way: the roll and Close
// cut by the file's size, not by what was asked for.
func zeroFill(f *os.File, off, n int64) error {
	for n > 0 {
		c := min(n, int64(len(zeros)))
		w, err := f.WriteAt(zeros[:c], off)
		if err != nil {
			return fmt.Errorf("qlog: write zeros ahead of the data: %w", err)
		}
		off, n = off+int64(w), n-int64(w)
	}
	return nil
}
