package spool

import "fmt"

// roll seals the write segment and starts the next. Under wmu.
func (s *Spool) roll() error {
	if s.w.seg != nil {
		if err := s.sealWriteSeg(); err != nil {
			return err
		}
	}
	return s.startSegment()
}

// sealWriteSeg writes the write segment's seal, syncs it (under every
// policy: a sealed segment is whole on disk, which is what lets recovery
// trust its seal and scan only the last segment) and lets it go. Under wmu.
func (s *Spool) sealWriteSeg() error {
	w := &s.w
	g := w.seg
	if !g.sealed {
		s.mu.Lock()
		end, next, records := g.end, s.next, g.records
		s.mu.Unlock()
		sl := appendSeal(make([]byte, 0, sealLen), end, next, uint32(records), s.opts.Now().UnixNano())
		if _, err := w.f.WriteAt(sl, w.off); err != nil {
			s.cutBack()
			return err
		}
		if err := w.f.Sync(); err != nil {
			s.cutBack()
			return err
		}
		w.off += sealLen
		s.mu.Lock()
		g.sealed, g.sealNext, g.size = true, next, w.off
		s.setSynced(end - 1)
		s.mu.Unlock()
	}
	s.detachWriter()
	return nil
}

// detachWriter closes the write segment's file; the next Append starts a
// segment. Under wmu.
func (s *Spool) detachWriter() {
	s.syncMu.Lock() // not while the background sync has the file
	s.mu.Lock()
	s.wseg, s.wfile = nil, nil
	s.mu.Unlock()
	f := s.w.f
	s.w.seg, s.w.f, s.w.off, s.w.broken = nil, nil, 0, false
	s.syncMu.Unlock()
	if f != nil {
		f.Close()
	}
}

// startSegment creates the segment that starts at the next sequence number:
// header written and synced, directory synced, before any record goes in,
// so a record that is synced is in a file that survives. Under wmu.
func (s *Spool) startSegment() error {
	s.mu.Lock()
	first := s.next
	var clash *segment
	for _, g := range s.segs {
		if g.first == first {
			clash = g
		}
	}
	s.mu.Unlock()
	if clash != nil {
		// Only an empty segment can carry the next number: replace it.
		if clash.end != clash.first {
			return fmt.Errorf("segment %s already holds records", clash.name)
		}
		if err := s.fs.Remove(s.path(clash.name)); err != nil {
			return err
		}
		s.mu.Lock()
		s.removeSeg(clash)
		s.mu.Unlock()
	}
	name := segName(first)
	path := s.path(name)
	f, err := s.fs.Create(path)
	if err != nil {
		return err
	}
	hdr := appendSegHeader(make([]byte, 0, segHeaderLen), first, s.opts.Now().UnixNano())
	if _, err = f.WriteAt(hdr, 0); err == nil {
		if err = f.Sync(); err == nil {
			err = s.fs.SyncDir(s.opts.Dir)
		}
	}
	if err != nil {
		f.Close()
		s.fs.Remove(path) // best effort: recovery removes a header-less last segment anyway
		return err
	}
	g := &segment{name: name, first: first, end: first, size: segHeaderLen, idx: []recMeta{}}
	s.mu.Lock()
	s.segs = append(s.segs, g)
	s.wseg, s.wfile = g, f
	s.mu.Unlock()
	s.w.seg, s.w.f, s.w.off = g, f, segHeaderLen
	return nil
}
