package spool

import (
	"errors"
	"fmt"
)

// Sentinels callers test with errors.Is; errors returned wrap them with the
// spool's name and the file concerned.
var (
	// ErrClosed: the spool was closed.
	ErrClosed = errors.New("spool closed")
	// ErrFull: under the Block policy, Append's context ended before there
	// was room. The caller counts the batch as dropped.
	ErrFull = errors.New("spool full")
	// ErrDiskFull: the disk had no space for the record. The spool counted
	// it (Stats.Dropped.DiskFull) and cut the partial write back.
	ErrDiskFull = errors.New("disk full")
	// ErrTooLarge: one record is larger than the spool may ever hold
	// (Options.MaxBytes). The spool counted it as dropped "full".
	ErrTooLarge = errors.New("record larger than the spool's bound")
)

// CorruptionError is a bad record or file: where it is and what is wrong.
// Verify reports them; reading quarantines what they point at.
type CorruptionError struct {
	Spool   string // the spool's name
	Segment string // file name in the spool directory ("cursor" for the cursor file)
	Offset  int64  // byte offset in that file
	Reason  string
}

func (e CorruptionError) Error() string {
	return fmt.Sprintf("spool %q: %s offset %d: %s", e.Spool, fileLabel(e.Segment), e.Offset, e.Reason)
}

func fileLabel(name string) string {
	if name == cursorName {
		return "cursor"
	}
	return "segment " + name
}
