package spool

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// quarantine sets aside segment g from off, where the record that should
// start at sequence seq is bad: the bytes from off move to
// <seq 20 digits>.seg.bad (the whole file is renamed when nothing before
// off is good), g keeps its good records and is sealed, and reading goes on
// after the set-aside range. good is how many records precede off (-1:
// count them in g's index). It returns the name of the file set aside.
// Never garbage delivered, never a crash loop, never the good records
// before the damage lost.
func (s *Spool) quarantine(g *segment, off int64, seq uint64, reason string, good int) (string, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if g.gone || seq < g.first || seq > g.end || (seq == g.end && g.sealed) {
		s.mu.Unlock()
		return "", nil // already dealt with
	}
	oldEnd, records := g.end, g.records
	if g.sealed {
		oldEnd = max(oldEnd, g.sealNext)
	}
	if g.idx != nil {
		good = 0
		for _, m := range g.idx {
			if m.off < off {
				good++
			}
		}
	}
	isWrite := g == s.wseg
	s.mu.Unlock()
	if isWrite {
		s.detachWriter() // the next record starts a segment of its own
	}

	whole := off <= segHeaderLen && seq == g.first
	var aside string
	var err error
	if whole {
		aside, err = setAside(s.fs, s.opts.Dir, g.name)
	} else {
		aside, err = s.cutAside(g, off, seq, oldEnd, max(good, 0))
	}

	s.mu.Lock()
	lost := uint64(0)
	if lo := max(seq, s.acked+1); oldEnd > lo {
		lost = oldEnd - lo
	}
	s.cnt.dropped.Corrupt += lost
	lostRecords := 1
	if records >= 0 && good >= 0 && records > good {
		lostRecords = records - good
	}
	if lost > 0 {
		s.cnt.dropped.CorruptRecords += uint64(lostRecords)
	}
	switch {
	case err != nil:
		// Could not touch the disk: skip the range for this run; the next
		// Open or Repair finds it again.
		g.end = seq
		if whole {
			s.removeSeg(g)
		}
	case whole:
		s.removeSeg(g)
	}
	if aside != "" {
		s.addBad(seq)
	}
	s.signalData()
	s.mu.Unlock()
	if err != nil {
		s.log.Error("bad record: cannot set it aside; skipping it until restart", "segment", g.name, "offset", off,
			"reason", reason, "events", lost, "err", err)
		return "", fmt.Errorf("spool %q: segment %s offset %d: set aside: %w", s.name, g.name, off, err)
	}
	s.log.Error("bad record: set the rest of its segment aside", "segment", g.name, "offset", off,
		"reason", reason, "events", lost, "file", aside)
	return aside, nil
}

// cutAside copies g's bytes from off to a .bad file (if there are any),
// cuts g there and seals it. Under wmu.
func (s *Spool) cutAside(g *segment, off int64, seq, oldEnd uint64, good int) (string, error) {
	f, err := s.fs.OpenWrite(s.path(g.name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return "", err
	}
	aside := ""
	if off < size {
		if aside, err = s.copyAside(seq, f, off, size); err != nil {
			return "", err
		}
	}
	if err := f.Truncate(off); err != nil {
		return aside, err
	}
	sl := appendSeal(make([]byte, 0, sealLen), seq, oldEnd, uint32(good), s.opts.Now().UnixNano())
	if _, err := f.WriteAt(sl, off); err != nil {
		return aside, err
	}
	if err := f.Sync(); err != nil {
		return aside, err
	}
	s.mu.Lock()
	g.size, g.end, g.sealed, g.sealNext, g.records, g.bad = off+sealLen, seq, true, oldEnd, good, nil
	if g.idx != nil {
		g.idx = g.idx[:min(good, len(g.idx))]
	}
	s.mu.Unlock()
	return aside, nil
}

// copyAside copies src's bytes [off, size) to a new <seq>.seg.bad, synced
// with its directory entry before the original is cut.
func (s *Spool) copyAside(seq uint64, src File, off, size int64) (string, error) {
	return s.writeAside(seq, func(dst File) error {
		buf := make([]byte, min(size-off, 1<<20))
		for pos := off; pos < size; {
			n, rerr := src.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
			if n > 0 {
				if _, err := dst.WriteAt(buf[:n], pos-off); err != nil {
					return err
				}
				pos += int64(n)
			}
			if rerr != nil && (n == 0 || !errors.Is(rerr, io.EOF)) {
				return rerr
			}
		}
		return nil
	})
}

// writeBad writes data to a new <seq>.seg.bad (recovery).
func (s *Spool) writeBad(seq uint64, data []byte) (string, error) {
	return s.writeAside(seq, func(dst File) error {
		_, err := dst.WriteAt(data, 0)
		return err
	})
}

// writeAside creates a new <seq>.seg.bad, lets fill write it, and makes it
// durable (file, then directory entry); on any failure the file goes again.
func (s *Spool) writeAside(seq uint64, fill func(dst File) error) (string, error) {
	name, err := freeName(s.fs, s.opts.Dir, segName(seq))
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.opts.Dir, name)
	dst, err := s.fs.Create(path)
	if err != nil {
		return "", err
	}
	err = fill(dst)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.SyncDir(s.opts.Dir)
	}
	if err != nil {
		s.fs.Remove(path)
		return "", err
	}
	return name, nil
}
