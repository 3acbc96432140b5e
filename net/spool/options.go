package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// SyncPolicy says when appended records and the acknowledged position are
// made durable (fsynced). Segment rolls and removals always sync, under
// every policy: once per segment, so a sealed segment is always whole on
// disk and a removal is never undone.
type SyncPolicy int

const (
	// SyncInterval (the default): a background fsync of data, then cursor,
	// every Options.SyncInterval. A crash loses at most that much.
	SyncInterval SyncPolicy = iota
	// SyncAlways: Append returns after fdatasync; Ack after the cursor is synced.
	SyncAlways
	// SyncNever: the spool hands everything to the kernel but never syncs
	// it (except at rolls and Close): it survives the process being
	// killed, not the machine losing power.
	SyncNever
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncInterval:
		return "interval"
	case SyncAlways:
		return "always"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// FullPolicy says what Append does when the spool is at Options.MaxBytes.
type FullPolicy int

const (
	// DropOldest (the default): drop the oldest records, whole, to make
	// room; they count as dropped "full".
	DropOldest FullPolicy = iota
	// Block: Append waits for the sender to acknowledge enough, until its
	// context ends (then ErrFull, which the caller counts).
	Block
)

func (p FullPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case Block:
		return "block"
	}
	return fmt.Sprintf("FullPolicy(%d)", int(p))
}

// Defaults for zero Options fields.
const (
	DefaultSegmentSize  = 64 << 20
	DefaultSyncInterval = time.Second
)

// minSegmentSize is the smallest segment worth having: a header, a small
// record and the seal.
const minSegmentSize = 256

// Options configure a spool.
type Options struct {
	// Dir is the spool's directory, <data-dir>/spool/<destination>; it is
	// created (0750) if needed.
	Dir string
	// Name names the spool in errors and logs; default: Dir's base name.
	Name string
	// FS is the filesystem; nil: the real one (OSFS).
	FS FS
	// SegmentSize is where a segment rolls (default 64 MiB). Segments are
	// never larger than an eighth of MaxBytes, so that dropping the oldest
	// segment frees room without dropping most of the spool.
	SegmentSize int64
	// MaxBytes bounds the spool's segment files together. Required.
	MaxBytes int64
	// Sync is when data and cursor are synced; SyncInterval how often
	// under SyncInterval (default 1s) and how often the background loop
	// (cursor writes, expiry, removals) runs under the other policies.
	Sync         SyncPolicy
	SyncInterval time.Duration
	// WhenFull is what Append does at MaxBytes.
	WhenFull FullPolicy
	// MaxAge drops unacknowledged records older than this (counted "age");
	// 0: nothing expires.
	MaxAge time.Duration
	// Log gets the spool's warnings (a component attribute is added); nil: slog.Default().
	Log *slog.Logger
	// Now is the clock; nil: time.Now (tests inject one).
	Now func() time.Time

	// fault breaks the spool on purpose, to show the crash tests catch it.
	// Only the package's tests can set it.
	fault fault
	// codec, if set, is used instead of a new one: the crash tests open
	// thousands of spools, and a zstd encoder's tables are most of the cost.
	codec *codec
}

// fault is a deliberate ordering bug.
type fault int

const (
	noFault fault = iota
	// faultCursorBeforeData syncs the cursor before the data it covers.
	faultCursorBeforeData
	// faultRemoveBeforeCursor removes acknowledged segments before the
	// cursor saying so is durable.
	faultRemoveBeforeCursor
)

// withDefaults checks o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("spool: no directory")
	}
	o.Dir = filepath.Clean(o.Dir)
	if o.Name == "" {
		o.Name = filepath.Base(o.Dir)
	}
	switch {
	case o.MaxBytes <= 0:
		return o, fmt.Errorf("spool %q: max bytes %d: must be positive", o.Name, o.MaxBytes)
	case o.SegmentSize < 0:
		return o, fmt.Errorf("spool %q: negative segment size %d", o.Name, o.SegmentSize)
	case o.SyncInterval < 0:
		return o, fmt.Errorf("spool %q: negative sync interval %v", o.Name, o.SyncInterval)
	case o.MaxAge < 0:
		return o, fmt.Errorf("spool %q: negative max age %v", o.Name, o.MaxAge)
	case o.Sync < SyncInterval || o.Sync > SyncNever:
		return o, fmt.Errorf("spool %q: unknown sync policy %d", o.Name, o.Sync)
	case o.WhenFull < DropOldest || o.WhenFull > Block:
		return o, fmt.Errorf("spool %q: unknown full policy %d", o.Name, o.WhenFull)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < minSegmentSize {
		return o, fmt.Errorf("spool %q: segment size %d: at least %d", o.Name, o.SegmentSize, minSegmentSize)
	}
	if o.MaxBytes < minSegmentSize {
		return o, fmt.Errorf("spool %q: max bytes %d: at least %d", o.Name, o.MaxBytes, minSegmentSize)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// segmentLimit is where segments roll: SegmentSize, but at most an eighth
// of MaxBytes (and never below the minimum).
func (o Options) segmentLimit() int64 {
	return max(min(o.SegmentSize, o.MaxBytes/8), minSegmentSize)
}
