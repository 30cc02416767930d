package qlog

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its metadata other than the
// size (what a reader needs): cheaper than fsync on most file systems.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// fallocate gives f n more bytes of allocated space from off on, growing
// its size (mode 0): writes into it then change no metadata but the
// extents' written state.
func fallocate(f *os.File, off, n int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, off, n)
		if err != syscall.EINTR {
			return err
		}
	}
}
