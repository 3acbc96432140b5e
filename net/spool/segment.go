package spool

import "sort"

// segment is one segment file as the spool knows it.
type segment struct {
	name     string
	first    uint64 // from the name
	end      uint64 // the sequence number after its last record
	sealNext uint64 // sealed: where the next segment starts (> end when the rest was quarantined)
	size     int64  // bytes on disk (for the write segment: through its last whole record)
	records  int    // -1: not known until indexed
	sealed   bool
	gone     bool      // removed or set aside
	idx      []recMeta // nil: not indexed yet
	bad      *badSpot  // where indexing found the data stops making sense
}

// recMeta is where one record is and what it holds.
type recMeta struct {
	off      int64
	first    uint64
	count    uint32
	size     uint32 // frame included
	appended int64
}

func (m recMeta) last() uint64 { return m.first + uint64(m.count) - 1 }

// badSpot is a place in a segment where its records stop making sense.
type badSpot struct {
	off    int64
	seq    uint64 // the sequence number a record there should start at
	reason string
}

// findRec is the index in idx of the record holding seq, or -1.
func findRec(idx []recMeta, seq uint64) int {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].first > seq }) - 1
	if i < 0 || idx[i].last() < seq {
		return -1
	}
	return i
}

// firstAfter is the index in idx of the first record with events after seq.
func firstAfter(idx []recMeta, seq uint64) int {
	return sort.Search(len(idx), func(i int) bool { return idx[i].last() > seq })
}
