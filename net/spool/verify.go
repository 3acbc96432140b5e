package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"time"
)

// Report is what Verify found (and Repair did).
type Report struct {
	Segments int
	Records  int
	Events   uint64
	Bytes    int64
	// Bad is each bad record or file: segment file, offset, what is wrong.
	Bad []CorruptionError
	// SetAside is the files Repair moved aside (names in the spool directory).
	SetAside []string
}

// fix is how Repair deals with one thing Verify found.
type fix struct {
	seg    *segment // nil: the cursor file
	off    int64
	seq    uint64
	good   int // records before off
	reason string
}

// Verify reads every segment (every record's crc and payload) and the
// cursor, and reports what is bad; it changes nothing. It may run while the
// spool is in use.
func (s *Spool) Verify() (Report, error) {
	rep, _, err := s.verify()
	return rep, err
}

// Repair quarantines what Verify finds: the rest of each segment from its
// first bad record moves to a .bad file (every good record before it
// stays and is delivered), a cursor file without a valid slot is set aside
// and rewritten. It reports what it found and what it set aside.
func (s *Spool) Repair() (Report, error) {
	rep, fixes, err := s.verify()
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, fx := range fixes {
		var name string
		var err error
		if fx.seg == nil {
			name, err = s.renewCursor()
		} else {
			name, err = s.quarantine(fx.seg, fx.off, fx.seq, fx.reason, fx.good)
		}
		if name != "" {
			rep.SetAside = append(rep.SetAside, name)
		}
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

type segSnap struct {
	g                 *segment
	limit             int64 // bytes to read: what was whole when the snapshot was taken
	isWrite           bool
	sealNext, nextSeg uint64
}

func (s *Spool) verify() (Report, []fix, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Report{}, nil, s.closedErr()
	}
	snaps := make([]segSnap, len(s.segs))
	for i, g := range s.segs {
		snaps[i] = segSnap{g: g, limit: g.size, isWrite: g == s.wseg}
	}
	acked := s.acked
	var first uint64
	if len(s.segs) > 0 {
		first = s.segs[0].first
	}
	headHole := len(s.segs) > 0 && acked+1 < first && !s.badIn(0, first)
	s.mu.Unlock()

	var rep Report
	var fixes []fix
	problem := func(seg string, off int64, reason string) {
		rep.Bad = append(rep.Bad, CorruptionError{Spool: s.name, Segment: seg, Offset: off, Reason: reason})
	}
	if headHole {
		problem(snaps[0].g.name, 0, fmt.Sprintf("sequence numbers %d to %d missing before this segment", acked+1, first-1))
	}
	var prevEnd uint64
	for i, sn := range snaps {
		end, fx, found := s.verifySegment(sn, &rep)
		switch {
		case found == "gone":
			continue
		case fx != nil:
			problem(sn.g.name, fx.off, fx.reason)
			fixes = append(fixes, *fx)
			prevEnd = 0 // the problem explains what follows
			continue
		}
		if i > 0 && prevEnd != 0 && prevEnd < sn.g.first {
			s.mu.Lock()
			explained := s.badIn(prevEnd, sn.g.first)
			s.mu.Unlock()
			if !explained {
				problem(sn.g.name, 0, fmt.Sprintf("sequence numbers %d to %d missing before this segment", prevEnd, sn.g.first-1))
			}
		}
		prevEnd = end
	}
	if reason := s.verifyCursor(); reason != "" {
		problem(cursorName, 0, reason)
		fixes = append(fixes, fix{reason: reason})
	}
	return rep, fixes, nil
}

// verifySegment scans one segment; it returns where its sequence numbers
// end (the seal's next, for a sealed one), the fix for its first problem,
// and "gone" if it went away meanwhile.
func (s *Spool) verifySegment(sn segSnap, rep *Report) (uint64, *fix, string) {
	g := sn.g
	f, err := s.fs.Open(s.path(g.name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Removal and quarantine mark a segment gone after the file
			// goes, under their locks: wait for them to finish.
			s.wmu.Lock()
			s.cmu.Lock()
			s.cmu.Unlock()
			s.wmu.Unlock()
		}
		s.mu.Lock()
		gone := g.gone
		s.mu.Unlock()
		if gone {
			return 0, nil, "gone"
		}
		return 0, &fix{seg: g, off: 0, seq: g.first, reason: fmt.Sprintf("open: %v", err)}, ""
	}
	defer f.Close()
	rep.Segments++
	rep.Bytes += sn.limit
	hb := make([]byte, segHeaderLen)
	n, _ := f.ReadAt(hb, 0)
	if reason := checkSegHeader(hb[:n], g.first); reason != "" {
		return 0, &fix{seg: g, off: 0, seq: g.first, reason: reason}, ""
	}
	records := 0
	res := scanFull(newReadAhead(f, sn.limit, 256<<10), segHeaderLen, sn.limit, g.first, func(m recMeta, rec []byte) string {
		err := s.codec.walk(rec[headLen:], int(m.count), func([]byte, int, time.Time, netip.AddrPort, []byte) error { return nil })
		if err != nil {
			return err.Error()
		}
		records++
		rep.Records++
		rep.Events += uint64(m.count)
		return ""
	})
	switch {
	case res.bad != nil:
		return res.next, &fix{seg: g, off: res.end, seq: res.next, good: records, reason: res.bad.reason}, ""
	case res.seal != nil && res.end+sealLen != sn.limit:
		return res.next, &fix{seg: g, off: res.end, seq: res.next, good: records, reason: "bytes after the seal"}, ""
	case res.seal != nil && res.seal.records != records:
		return res.next, &fix{seg: g, off: res.end, seq: res.next, good: records,
			reason: fmt.Sprintf("seal says %d records, found %d", res.seal.records, records)}, ""
	case res.seal != nil:
		return res.seal.next, nil, ""
	case !sn.isWrite:
		return res.next, &fix{seg: g, off: res.end, seq: res.next, good: records,
			reason: fmt.Sprintf("segment ends at sequence %d without a seal", res.next)}, ""
	}
	return res.next, nil, ""
}

// verifyCursor says what is wrong with the cursor file ("" if nothing).
func (s *Spool) verifyCursor() string {
	s.mu.Lock()
	lost := s.cursorBad
	s.mu.Unlock()
	if lost {
		return "no valid slot when the spool was opened"
	}
	f, err := s.fs.Open(s.path(cursorName))
	if err != nil {
		return fmt.Sprintf("open: %v", err)
	}
	defer f.Close()
	b := make([]byte, cursorSize)
	n, _ := f.ReadAt(b, 0)
	if _, _, st := readSlots(b[:n]); st == cursorLost {
		return "no valid slot"
	}
	return ""
}

// renewCursor sets the cursor file aside and writes a new one holding the
// acknowledged position.
func (s *Spool) renewCursor() (string, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	acked := s.acked
	s.mu.Unlock()
	aside, err := setAside(s.fs, s.opts.Dir, cursorName)
	if err != nil {
		return "", fmt.Errorf("spool %q: cursor: %w", s.name, err)
	}
	f, err := s.fs.Create(s.cur.path)
	if err != nil {
		return aside, fmt.Errorf("spool %q: cursor: %w", s.name, err)
	}
	s.cur.f.Close()
	s.cur = &cursor{f: f, path: s.cur.path}
	if err := s.cur.write(acked, true); err != nil {
		return aside, fmt.Errorf("spool %q: cursor: %w", s.name, err)
	}
	if err := s.fs.SyncDir(s.opts.Dir); err != nil {
		return aside, fmt.Errorf("spool %q: %w", s.name, err)
	}
	s.mu.Lock()
	s.written, s.durable, s.cursorBad = acked, acked, false
	s.mu.Unlock()
	s.log.Warn("cursor file had no valid slot: set aside and rewritten", "file", aside, "acknowledged", acked)
	return aside, nil
}
