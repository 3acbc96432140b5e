package main

import (
	"fmt"
)

// maxTracked bounds the bitmap of one stream (2^30 bits = 128 MiB): a
// corrupted sequence number must not make the checker allocate gigabytes.
const maxTracked = 1 << 30

// maxRanges is how many missing ranges a stream report lists; the counts are
// always exact.
const maxRanges = 16

// streamState is what the checker knows about one stream: a bitmap of the
// sequence numbers seen, which makes duplicates and gaps exact.
type streamState struct {
	bits       []uint64
	received   uint64
	unique     uint64
	duplicates uint64
	outOfRange uint64
	maxSeq     int64
}

func (s *streamState) add(seq uint64) {
	s.received++
	if seq >= maxTracked {
		s.outOfRange++
		return
	}
	w := int(seq >> 6)
	if w >= len(s.bits) {
		n := max(2*len(s.bits), w+1, 1024)
		nb := make([]uint64, n)
		copy(nb, s.bits)
		s.bits = nb
	}
	m := uint64(1) << (seq & 63)
	if s.bits[w]&m != 0 {
		s.duplicates++
		return
	}
	s.bits[w] |= m
	s.unique++
	if int64(seq) > s.maxSeq {
		s.maxSeq = int64(seq)
	}
}

// missingRanges lists up to maxRanges gaps in [0, maxSeq] as "a-b" or "a".
func (s *streamState) missingRanges() []string {
	var out []string
	start := int64(-1)
	flush := func(end int64) {
		if start < 0 {
			return
		}
		if len(out) < maxRanges {
			if start == end {
				out = append(out, fmt.Sprint(start))
			} else {
				out = append(out, fmt.Sprintf("%d-%d", start, end))
			}
		}
		start = -1
	}
	for seq := int64(0); seq <= s.maxSeq && len(out) < maxRanges; {
		w := s.bits[seq>>6]
		if seq&63 == 0 && seq+63 <= s.maxSeq { // whole words at a time where possible
			if w == ^uint64(0) {
				flush(seq - 1)
				seq += 64
				continue
			}
			if w == 0 {
				if start < 0 {
					start = seq
				}
				seq += 64
				continue
			}
		}
		if w&(1<<(seq&63)) == 0 {
			if start < 0 {
				start = seq
			}
		} else {
			flush(seq - 1)
		}
		seq++
	}
	flush(s.maxSeq)
	return out
}

// tracker is the checker's state over all streams. It is not safe for
// concurrent use; receivers that run several goroutines lock around it.
type tracker struct {
	streams  map[string]*streamState
	lastID   string
	last     *streamState
	received uint64
	unparsed uint64
}

func newTracker() *tracker { return &tracker{streams: map[string]*streamState{}} }

// add accounts for one received message.
func (t *tracker) add(msg []byte) {
	t.received++
	seq, id, ok := parseSeq(msg)
	if !ok {
		t.unparsed++
		return
	}
	s := t.last
	if s == nil || string(id) != t.lastID {
		s = t.streams[string(id)] // no allocation for the lookup
		if s == nil {
			s = &streamState{maxSeq: -1}
			t.streams[string(id)] = s
		}
		t.lastID, t.last = string(id), s // allocates only when the stream changes
	}
	s.add(seq)
}

// streamReport is one stream's line in the checker's JSON.
type streamReport struct {
	Received      uint64   `json:"received"`
	Unique        uint64   `json:"unique"`
	Missing       uint64   `json:"missing"`
	Duplicates    uint64   `json:"duplicates"`
	MaxSeq        int64    `json:"max_seq"`
	OutOfRange    uint64   `json:"out_of_range,omitempty"`
	MissingRanges []string `json:"missing_ranges,omitempty"`
}

// checkReport is the checker's JSON result.
type checkReport struct {
	Received   uint64                  `json:"received"`
	Missing    uint64                  `json:"missing"`
	Duplicates uint64                  `json:"duplicates"`
	Unparsed   uint64                  `json:"unparsed"`
	MaxSeq     int64                   `json:"max_seq"`
	Streams    map[string]streamReport `json:"streams"`
	Seconds    float64                 `json:"seconds"`
	Rate       float64                 `json:"rate"`
	Rcvbuf     int                     `json:"rcvbuf,omitempty"`
	Drops      *uint64                 `json:"drops,omitempty"`
}

// report summarises the tracker. Sequence numbers start at 0 in every stream,
// so a gap is anything unseen in [0, max_seq]; a lost tail is only visible
// against expect, the total number of distinct messages all streams should
// have carried (0: unknown).
func (t *tracker) report(expect uint64) checkReport {
	r := checkReport{Received: t.received, Unparsed: t.unparsed, MaxSeq: -1, Streams: map[string]streamReport{}}
	var unique uint64
	for id, s := range t.streams {
		sr := streamReport{Received: s.received, Unique: s.unique, Duplicates: s.duplicates, MaxSeq: s.maxSeq, OutOfRange: s.outOfRange}
		sr.Missing = uint64(s.maxSeq+1) - s.unique
		if sr.Missing > 0 {
			sr.MissingRanges = s.missingRanges()
		}
		r.Streams[id] = sr
		r.Missing += sr.Missing
		r.Duplicates += s.duplicates
		unique += s.unique
		r.MaxSeq = max(r.MaxSeq, s.maxSeq)
	}
	if expect > unique && expect-unique > r.Missing {
		r.Missing = expect - unique
	}
	return r
}
