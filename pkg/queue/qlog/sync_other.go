//go:build !linux

package qlog

import (
	"errors"
	"os"
)

func fdatasync(f *os.File) error { return f.Sync() }

// fallocate is Linux only; elsewhere writes extend the file.
func fallocate(f *os.File, off, n int64) error { return errors.ErrUnsupported }
