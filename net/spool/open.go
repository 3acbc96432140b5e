package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
)

// Open opens (creating it if needed) the spool in opts.Dir and recovers
// its state without reading the backlog: it reads the cursor, lists the
// segments, reads the seal at the end of each (a few bytes) and scans only
// the last segment, cutting a torn tail at its last good record. A corrupt
// segment or cursor is set aside or reported, never a reason to fail: Open
// fails only when the directory itself cannot be read or written.
func Open(opts Options) (*Spool, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := o.codec
	if c == nil {
		if c, err = newCodec(); err != nil {
			return nil, fmt.Errorf("spool %q: %w", o.Name, err)
		}
	}
	s := &Spool{
		opts: o, name: o.Name, fs: o.FS, segMax: o.segmentLimit(), codec: c,
		log:     o.Log.With("component", "spool", "spool", o.Name),
		closing: make(chan struct{}), dataReady: make(chan struct{}, 1), roomWake: make(chan struct{}), syncWake: make(chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.takeClean(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.syncLoop()
	return s, nil
}

// recover builds the spool's state from its directory.
func (s *Spool) recover() error {
	dir := s.opts.Dir
	if err := s.fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("spool %q: %w", s.name, err)
	}
	names, err := s.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool %q: %w", s.name, err)
	}
	var segs []*segment
	haveCursor := false
	for _, n := range names {
		if first, ok := parseSegName(n); ok {
			segs = append(segs, &segment{name: n, first: first, records: -1})
		} else if first, ok := parseBadName(n); ok {
			s.addBad(first)
		} else if n == cursorName {
			haveCursor = true
		}
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmp.Compare(a.first, b.first) })

	cur, acked, cst, aside, fresh, err := openCursor(s.fs, dir, haveCursor)
	if err != nil {
		return fmt.Errorf("spool %q: %w", s.name, err)
	}
	s.cur = cur
	if aside != "" {
		s.log.Error("cursor file unreadable: set aside", "file", aside)
	}

	for _, g := range segs {
		if g.size, err = s.fs.Stat(s.path(g.name)); err != nil {
			return fmt.Errorf("spool %q: %w", s.name, err)
		}
	}
	for i := 0; i+1 < len(segs); i++ {
		if s.readSeal(segs[i]); !segs[i].sealed {
			segs[i].end = segs[i+1].first // assumed until it is indexed
		}
	}
	// The last segment is the only one that can hold unsynced data: scan it.
	var wf File
	for len(segs) > 0 {
		keep, f, err := s.recoverLast(segs[len(segs)-1])
		if err != nil {
			return err
		}
		if keep {
			wf = f
			break
		}
		segs = segs[:len(segs)-1]
		if len(segs) > 0 && segs[len(segs)-1].sealed {
			break // its seal says all there is to know
		}
	}
	s.segs = segs

	next := max(s.nextFloor, 1)
	if n := len(segs); n > 0 {
		l := segs[n-1]
		next = max(next, l.end, l.sealNext)
	}
	if cst == cursorValid {
		s.checkHoles(acked, next)
	} else {
		acked = next - 1
		if len(segs) > 0 {
			acked = segs[0].first - 1
		}
		// The cursor file is created, synced, before any segment: without
		// a valid one, segments mean it was lost.
		if cst == cursorLost || len(segs) > 0 {
			s.recovery.CursorLost = true
			s.cursorBad = cst == cursorLost && !fresh
			s.log.Error("cursor lost: no valid slot; delivering again from the first segment", "acknowledged", acked)
		}
	}
	next = max(next, acked+1)
	s.next, s.acked, s.written, s.durable, s.readPos = next, acked, acked, acked, acked+1
	s.synced = next - 1 // recoverLast synced the last segment; the others are sealed, so synced
	for _, r := range s.lost {
		if lo := max(r.lo, acked+1); r.hi > lo {
			s.cnt.dropped.Corrupt += r.hi - lo
			s.cnt.dropped.CorruptRecords += uint64(max(r.records, 1))
		}
	}
	s.lost = nil

	if fresh {
		// Start a new file with a valid slot, so that a crash can never
		// leave it without one once something was acknowledged. (A file
		// with no valid slot stays as it is, for Verify to report and
		// Repair to set aside; the next cursor write goes into a slot.)
		if err := cur.write(acked, true); err != nil {
			return fmt.Errorf("spool %q: cursor: %w", s.name, err)
		}
		if err := s.fs.SyncDir(dir); err != nil {
			return fmt.Errorf("spool %q: %w", s.name, err)
		}
	}
	s.removeAckedAtOpen()
	n := len(s.segs)
	if wf == nil || n == 0 || s.segs[n-1].sealed || s.segs[n-1].gone {
		if wf != nil {
			wf.Close()
		}
		return nil
	}
	g := s.segs[n-1]
	s.w = writer{seg: g, f: wf, off: g.size}
	s.wseg, s.wfile = g, wf
	if g.end != s.next {
		// The data ends before the next sequence number (the cursor or a
		// set-aside range is past it): seal it, so the next record starts
		// a segment of its own and the gap is on disk.
		if err := s.sealWriteSeg(); err != nil {
			s.log.Warn("cannot seal the last segment", "segment", g.name, "err", err)
		}
	}
	return nil
}

// checkHoles counts what a valid cursor says should be there and is not:
// acknowledged past the end of the data (the cursor ran ahead of it), or
// sequence numbers missing between the cursor and the first segment or
// between segments, with no quarantined file to explain them. None of this
// can follow a crash when the ordering rules are kept; it means damage.
func (s *Spool) checkHoles(acked, next uint64) {
	segs := s.segs
	if len(segs) == 0 {
		return
	}
	if acked+1 > next {
		s.recovery.CursorAhead = acked + 1 - next
		s.log.Warn("the cursor acknowledges past the end of the data: data it covered was lost", "acknowledged", acked, "data ends", next-1)
	}
	holes := []lostRange{{lo: acked + 1, hi: segs[0].first}}
	for i := 0; i+1 < len(segs); i++ {
		g, nx := segs[i], segs[i+1]
		if !g.sealed {
			continue
		}
		holes = append(holes, lostRange{lo: g.sealNext, hi: nx.first})
	}
	for _, h := range holes {
		lo := max(h.lo, acked+1)
		if h.hi <= lo || s.badIn(h.lo, h.hi) || (h.lo == acked+1 && s.badIn(0, h.hi)) {
			continue
		}
		s.recovery.Missing += h.hi - lo
		s.cnt.dropped.Corrupt += h.hi - lo
		s.log.Error("sequence numbers missing from the spool", "from", lo, "to", h.hi-1)
	}
}

// readSeal reads the seal at the end of a segment that is not the last; a
// segment without one (it should have one) is indexed when it is reached.
func (s *Spool) readSeal(g *segment) {
	if g.size < segHeaderLen+sealLen {
		return
	}
	f, err := s.fs.Open(s.path(g.name))
	if err != nil {
		s.log.Warn("cannot read segment seal", "segment", g.name, "err", err)
		return
	}
	defer f.Close()
	b := make([]byte, sealLen)
	n, _ := f.ReadAt(b, g.size-sealLen)
	sl, ok := parseSeal(b[:n])
	if !ok || sl.first < g.first {
		return
	}
	g.sealed, g.end, g.sealNext, g.records = true, sl.first, sl.next, sl.records
}

// removeAckedAtOpen removes the segments the cursor fully acknowledges; the
// cursor is durable (openCursor synced it).
func (s *Spool) removeAckedAtOpen() {
	removed := 0
	for len(s.segs) > 0 && s.segs[0].end <= s.acked+1 {
		g := s.segs[0]
		if err := s.fs.Remove(s.path(g.name)); err != nil {
			s.log.Warn("cannot remove an acknowledged segment", "segment", g.name, "err", err)
			break
		}
		s.segs = s.segs[1:]
		g.gone = true
		removed++
	}
	if removed > 0 {
		if err := s.fs.SyncDir(s.opts.Dir); err != nil {
			s.log.Warn("cannot sync the spool directory", "err", err)
		}
	}
}

// closeFiles closes what a failed Open opened.
func (s *Spool) closeFiles() {
	if s.cur != nil {
		s.cur.f.Close()
	}
	if s.w.f != nil {
		s.w.f.Close()
	}
}

// takeClean removes the clean mark (durably: a crash from here on is
// unclean) and records whether there was one.
func (s *Spool) takeClean() error {
	name := s.path(cleanName)
	if _, err := s.fs.Stat(name); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool %q: clean mark: %w", s.name, err)
		}
		if s.next > 1 { // not a new spool
			s.recovery.Unclean, s.recovery.Replayable = true, s.eventsIn(s.acked, s.next-1)
		}
		return nil
	}
	if err := s.fs.Remove(name); err != nil {
		return fmt.Errorf("spool %q: clean mark: %w", s.name, err)
	}
	return s.fs.SyncDir(s.opts.Dir)
}
