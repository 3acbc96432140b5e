package spool

import "time"

// Stats is what the spool holds and what it lost, for status commands.
type Stats struct {
	Bytes    int64 // segment files on disk
	Limit    int64 // Options.MaxBytes
	Segments int

	Events        uint64    // queued: appended, not acknowledged
	Records       uint64    // records holding them
	OldestUnacked time.Time // append time of the oldest unacknowledged record; zero if none

	AppendedEvents, AckedEvents uint64 // since Open

	Dropped     Dropped
	Quarantined int // *.bad segment files in the directory
	Recovery    Recovery
}

// Dropped counts events the spool gave up, by reason, since Open.
type Dropped struct {
	Full     uint64 // DropOldest made room, or a record larger than the bound
	Age      uint64 // older than MaxAge
	DiskFull uint64 // ENOSPC
	Corrupt  uint64 // set aside with a bad record, or missing from the disk
	// CorruptRecords is how many records those were (at least one per
	// damaged range when the count is not known).
	CorruptRecords uint64
}

// Recovery is what Open found.
type Recovery struct {
	TornBytes  int64 // cut from the end of the last segment (a crash's torn appends)
	CursorLost bool  // no valid cursor slot: delivering again from the first segment
	// CursorAhead: events the cursor acknowledged that are not on disk (it
	// was synced before the data it covered). Missing: events neither on
	// disk, nor acknowledged, nor set aside. Neither follows a crash when
	// the spool keeps its ordering rules.
	CursorAhead, Missing uint64
	// Unclean: the spool was not closed (a crash, kill -9, power loss).
	// Replayable is then how many unacknowledged events it opened with:
	// its reader may have delivered some of them already (the cursor is
	// synced once per interval), so they bound what a destination can see
	// twice. After a clean Close both are zero.
	Unclean    bool
	Replayable uint64
}

// Stats reports the spool's figures. After Open it may read the record
// heads of the oldest segment once (for Records and OldestUnacked).
func (s *Spool) Stats() Stats {
	s.expire()
	for try := 0; ; try++ {
		s.mu.Lock()
		st, need := s.statsLocked()
		s.mu.Unlock()
		if need == nil || try == 3 {
			return st
		}
		s.loadIndex(need)
	}
}

// statsLocked computes Stats; need is a segment that must be indexed
// first for them to be exact. Under mu.
func (s *Spool) statsLocked() (Stats, *segment) {
	st := Stats{Limit: s.opts.MaxBytes, Segments: len(s.segs), AppendedEvents: s.cnt.appended,
		AckedEvents: s.cnt.acked, Dropped: s.cnt.dropped, Quarantined: s.cnt.quarantined, Recovery: s.recovery}
	var need *segment
	for _, g := range s.segs {
		st.Bytes += g.size
		lo := max(g.first, s.acked+1)
		if g.end <= lo {
			continue
		}
		st.Events += g.end - lo
		switch {
		case g.first > s.acked && g.records >= 0:
			st.Records += uint64(g.records)
		case g.idx != nil:
			st.Records += uint64(len(g.idx) - firstAfter(g.idx, s.acked))
		case need == nil:
			need = g
		}
		if st.OldestUnacked.IsZero() {
			if g.idx == nil {
				if need == nil {
					need = g
				}
			} else if i := firstAfter(g.idx, s.acked); i < len(g.idx) {
				st.OldestUnacked = time.Unix(0, g.idx[i].appended)
			}
		}
	}
	return st, need
}
