package spool

import (
	"os"
	"syscall"
)

// datasync is fdatasync: the data and the size, not the times. The spool
// never closes a file while syncing it, so the descriptor is valid.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
