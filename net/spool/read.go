package spool

import (
	"context"
	"fmt"
	"time"
)

// Next returns the next record after the read position, in order. It
// returns at once when one is there (even if ctx has ended) and otherwise
// waits until one is appended, ctx ends (ctx.Err()) or the spool closes
// (ErrClosed). After Rewind it starts again at the first unacknowledged
// record. A record that fails its check is not returned: the rest of its
// segment is quarantined and reading goes on after it. One goroutine
// reads: Next is not for concurrent callers.
func (s *Spool) Next(ctx context.Context) (Record, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for {
		s.expire()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Record{}, s.closedErr()
		}
		if s.rewound || s.readPos <= s.acked {
			s.readPos, s.rewound = s.acked+1, false
		}
		pos := s.readPos
		if pos >= s.next {
			// Caught up: let go of the file while waiting. A segment removed
			// meanwhile (acknowledged, or let go at a full disk) would keep
			// its space taken while a reader holds it open.
			var idle File
			if s.rfile != nil {
				idle, s.rfile, s.rseg = s.rfile, nil, nil
			}
			s.mu.Unlock()
			if idle != nil {
				idle.Close()
			}
			select {
			case <-s.dataReady:
				continue
			case <-ctx.Done():
				return Record{}, ctx.Err()
			case <-s.closing:
				return Record{}, s.closedErr()
			}
		}
		g := s.segFor(pos)
		if g == nil { // a range set aside at the end
			s.readPos = s.next
			s.mu.Unlock()
			continue
		}
		if pos < g.first { // a range set aside, or acknowledged
			s.readPos = g.first
			s.mu.Unlock()
			continue
		}
		if g.idx == nil {
			s.mu.Unlock()
			s.loadIndex(g)
			continue
		}
		i := findRec(g.idx, pos)
		if i < 0 {
			bad := g.bad
			if bad == nil {
				bad = &badSpot{off: g.size, seq: pos, reason: fmt.Sprintf("no record holds sequence %d", pos)}
			}
			s.mu.Unlock()
			s.quarantine(g, bad.off, bad.seq, bad.reason, -1)
			continue
		}
		m := g.idx[i]
		s.mu.Unlock()
		rec, reason := s.readAt(g, m)
		if reason != "" {
			if s.isClosed() {
				return Record{}, s.closedErr()
			}
			s.mu.Lock()
			moved := g.gone || m.first >= g.end || m.last() <= s.acked // removed or set aside meanwhile
			s.mu.Unlock()
			if !moved {
				s.quarantine(g, m.off, m.first, reason, -1)
			}
			continue
		}
		s.mu.Lock()
		if s.rewound || m.last() <= s.acked {
			s.mu.Unlock()
			continue
		}
		s.readPos = m.last() + 1
		s.mu.Unlock()
		return rec, nil
	}
}

// readAt reads and checks the record m of g; reason says what is wrong.
// Under rmu.
func (s *Spool) readAt(g *segment, m recMeta) (Record, string) {
	if s.rseg != g {
		if s.rfile != nil {
			s.rfile.Close()
		}
		s.rfile, s.rseg = nil, nil
		f, err := s.fs.Open(s.path(g.name))
		if err != nil {
			return Record{}, fmt.Sprintf("open: %v", err)
		}
		s.rfile, s.rseg = f, g
	}
	buf, reason := readRecord(s.rfile, m)
	if reason != "" {
		return Record{}, reason
	}
	return Record{FirstSeq: m.first, Count: int(m.count), Appended: time.Unix(0, m.appended),
		Segment: g.name, Offset: m.off, payload: buf[headLen:], codec: s.codec}, ""
}

// readRecord reads the record m points at into a new buffer and checks it
// against m and its crc.
func readRecord(f File, m recMeta) ([]byte, string) {
	buf := make([]byte, m.size)
	if n, err := f.ReadAt(buf, m.off); n < len(buf) {
		return nil, readReason(err, "record")
	}
	h := parseHead(buf)
	switch {
	case h.size() != int64(m.size):
		return nil, fmt.Sprintf("record length %d, was %d", h.size(), m.size)
	case !checkCRC(buf):
		return nil, "crc mismatch"
	case h.first != m.first || h.count != m.count || h.appended != m.appended:
		return nil, "record head changed"
	}
	return buf, ""
}
