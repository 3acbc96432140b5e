package spool

import "fmt"

// loadIndex indexes a segment the spool did not write or scan this run
// (recovery only scans the last one): it reads each record's head, not the
// payloads, so reaching the head of a large backlog costs little. Where
// the heads stop making sense is noted (g.bad) for the reader to
// quarantine when it gets there.
func (s *Spool) loadIndex(g *segment) {
	s.imu.Lock()
	defer s.imu.Unlock()
	s.mu.Lock()
	if g.idx != nil || g.gone {
		s.mu.Unlock()
		return
	}
	size, sealed := g.size, g.sealed
	s.mu.Unlock()

	idx, bad := s.indexFile(g, size, sealed)
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.idx != nil || g.gone {
		return
	}
	g.idx = idx
	next := g.first
	if len(idx) > 0 {
		next = idx[len(idx)-1].last() + 1
	}
	switch {
	case bad != nil:
		g.bad = bad
	case sealed && next != g.end:
		g.bad = &badSpot{off: size - sealLen, seq: next,
			reason: fmt.Sprintf("records end at sequence %d, the seal says %d", next, g.end)}
	case sealed:
		g.records = len(idx)
	case next < g.end:
		// Not sealed and not the last (a seal is missing): the reader
		// quarantines the range its records do not cover when it gets there.
		g.bad = &badSpot{off: size, seq: next, reason: fmt.Sprintf("segment ends at sequence %d without a seal", next)}
	default:
		g.records = len(idx)
	}
}

// indexFile reads the heads of g's records.
func (s *Spool) indexFile(g *segment, size int64, sealed bool) ([]recMeta, *badSpot) {
	f, err := s.fs.Open(s.path(g.name))
	if err != nil {
		return []recMeta{}, &badSpot{off: 0, seq: g.first, reason: fmt.Sprintf("open: %v", err)}
	}
	defer f.Close()
	hb := make([]byte, segHeaderLen)
	n, _ := f.ReadAt(hb, 0)
	if reason := checkSegHeader(hb[:n], g.first); reason != "" {
		return []recMeta{}, &badSpot{off: 0, seq: g.first, reason: reason}
	}
	limit := size
	if sealed {
		limit -= sealLen
	}
	return scanHeads(newReadAhead(f, limit, 4<<10), segHeaderLen, limit, g.first)
}
