package spool

import (
	"fmt"
	"io"
)

// recoverLast scans the last segment record by record, checking every crc,
// and makes its end whole: a torn tail (a crash cut the last writes) is
// truncated at the last good record; damage followed by good records (not
// something a torn append leaves) is set aside as a .bad file and the
// segment sealed before it. keep is false when the segment is gone
// (empty and removed, or set aside whole); f is its file, open for
// writing, when Append may go on writing to it.
func (s *Spool) recoverLast(g *segment) (keep bool, f File, err error) {
	path := s.path(g.name)
	f, err = s.fs.OpenWrite(path)
	if err != nil {
		return false, nil, s.asideAtOpen(g, nil, fmt.Sprintf("open: %v", err))
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return false, nil, s.asideAtOpen(g, nil, fmt.Sprintf("stat: %v", err))
	}
	hb := make([]byte, segHeaderLen)
	n, _ := f.ReadAt(hb, 0)
	if reason := checkSegHeader(hb[:n], g.first); reason != "" {
		if size <= segHeaderLen {
			// A crash cut the segment's creation short: nothing was in it.
			f.Close()
			if err := s.fs.Remove(path); err != nil {
				return false, nil, fmt.Errorf("spool %q: %w", s.name, err)
			}
			s.log.Info("removed a segment whose creation a crash cut short", "segment", g.name)
			return false, nil, s.fs.SyncDir(s.opts.Dir)
		}
		data := make([]byte, size)
		n, _ := f.ReadAt(data, 0)
		f.Close()
		return false, nil, s.asideAtOpen(g, data[:n], reason)
	}

	ra := newReadAhead(f, size, 256<<10)
	idx := []recMeta{}
	res := scanFull(ra, segHeaderLen, size, g.first, func(m recMeta, _ []byte) string {
		idx = append(idx, m)
		return ""
	})
	g.idx, g.records, g.end, g.size = idx, len(idx), res.next, res.end
	switch {
	case res.seal != nil:
		g.sealed, g.sealNext, g.size = true, res.seal.next, res.end+sealLen
		if g.size < size {
			err = f.Truncate(g.size) // junk after the seal: not data
			s.recovery.TornBytes += size - g.size
		}
	case res.bad != nil:
		tail := make([]byte, size-res.end)
		if n, rerr := f.ReadAt(tail, res.end); n < len(tail) && rerr != io.EOF {
			s.log.Warn("cannot read the end of the last segment", "segment", g.name, "err", rerr)
		}
		found, last := findRecords(tail, res.next)
		if found == 0 {
			// A torn append: cut it.
			err = f.Truncate(res.end)
			s.recovery.TornBytes += size - res.end
			s.log.Warn("cut a torn tail", "segment", g.name, "offset", res.end, "bytes", size-res.end, "reason", res.bad.reason)
			break
		}
		if res.end <= segHeaderLen {
			f.Close()
			s.lost = append(s.lost, lostRange{lo: g.first, hi: last + 1, records: found})
			s.nextFloor = max(s.nextFloor, last+1)
			return false, nil, s.asideAtOpen(g, nil, res.bad.reason)
		}
		aside, werr := s.writeBad(res.next, tail)
		if werr != nil {
			s.log.Error("cannot set a damaged tail aside; cutting it", "segment", g.name, "err", werr)
		} else {
			s.addBad(res.next)
		}
		s.lost = append(s.lost, lostRange{lo: res.next, hi: last + 1, records: found})
		s.nextFloor = max(s.nextFloor, last+1)
		s.log.Error("damage in the last segment: set the rest aside", "segment", g.name, "offset", res.end,
			"reason", res.bad.reason, "file", aside, "records", found)
		if err = f.Truncate(res.end); err == nil {
			sl := appendSeal(nil, res.next, last+1, uint32(len(idx)), s.opts.Now().UnixNano())
			if _, err = f.WriteAt(sl, res.end); err == nil {
				g.sealed, g.sealNext, g.size = true, last+1, res.end+sealLen
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return false, nil, fmt.Errorf("spool %q: segment %s: %w", s.name, g.name, err)
	}
	if g.sealed {
		f.Close()
		return true, nil, nil
	}
	return true, f, nil
}

// asideAtOpen sets a segment that cannot be used aside whole, first
// looking through data (its content, if it could be read) for the highest
// sequence number in it, so that none is used twice.
func (s *Spool) asideAtOpen(g *segment, data []byte, reason string) error {
	if found, last := findRecords(data, g.first); found > 0 {
		s.nextFloor = max(s.nextFloor, last+1)
		s.lost = append(s.lost, lostRange{lo: g.first, hi: last + 1, records: found})
	}
	s.nextFloor = max(s.nextFloor, g.first)
	aside, err := setAside(s.fs, s.opts.Dir, g.name)
	if err != nil {
		return fmt.Errorf("spool %q: segment %s: set aside: %w", s.name, g.name, err)
	}
	s.addBad(g.first)
	g.gone = true
	s.log.Error("segment unusable: set aside", "segment", g.name, "reason", reason, "file", aside)
	return nil
}
