package spool

import (
	"errors"
	"fmt"
	"io/fs"
)

// Ack acknowledges every event with a sequence number up to through. Under
// SyncAlways the cursor is synced before Ack returns; otherwise within the
// sync interval. Segments it fully acknowledges are removed once the
// cursor saying so is durable. Acknowledging less than before does nothing.
func (s *Spool) Ack(through uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closedErr()
	}
	if through >= s.next {
		next := s.next
		s.mu.Unlock()
		return fmt.Errorf("spool %q: ack through %d: only %d appended", s.name, through, next-1)
	}
	if through <= s.acked {
		s.mu.Unlock()
		return nil
	}
	s.cnt.acked += s.eventsIn(s.acked, through)
	s.acked = through
	s.wakeRoom()
	s.mu.Unlock()
	if s.opts.Sync == SyncAlways {
		return s.persist(true)
	}
	return nil
}

// Rewind makes Next start again at the first unacknowledged record: the
// sender lost its connection and what it had in flight must go again.
func (s *Spool) Rewind() {
	s.mu.Lock()
	s.rewound = true
	s.signalData()
	s.mu.Unlock()
}

// Sync makes everything appended and acknowledged so far durable now (data,
// then cursor), whatever the policy, and removes what that makes redundant.
func (s *Spool) Sync() error {
	if s.isClosed() {
		return s.closedErr()
	}
	return s.persist(true)
}

// persist writes the acknowledged position to the cursor and, if fsync,
// syncs the data first and the cursor after: the cursor on disk never
// covers data that is not on disk. Then it removes the segments the
// cursor (durable, or under SyncNever written) fully acknowledges.
func (s *Spool) persist(fsync bool) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.mu.Lock()
	target := s.acked
	write := target != s.written || (fsync && target != s.durable)
	s.mu.Unlock()
	if write && s.opts.fault == faultRemoveBeforeCursor {
		if err := s.removeThrough(target); err != nil {
			return err
		}
	}
	if fsync && s.opts.fault != faultCursorBeforeData {
		if err := s.syncData(); err != nil {
			return err
		}
	}
	if write {
		if err := s.cur.write(target, fsync); err != nil {
			return fmt.Errorf("spool %q: cursor: %w", s.name, err)
		}
		s.mu.Lock()
		s.written = target
		if fsync {
			s.durable = target
		}
		s.mu.Unlock()
	}
	if fsync && s.opts.fault == faultCursorBeforeData {
		if err := s.syncData(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	through := s.durable
	if s.opts.Sync == SyncNever {
		through = max(through, s.written)
	}
	s.mu.Unlock()
	return s.removeThrough(through)
}

// syncData fsyncs the write segment if anything was appended since the
// last sync. Sealed segments were synced when sealed.
func (s *Spool) syncData() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	f, upto := s.wfile, s.next-1
	done := s.synced >= upto
	s.mu.Unlock()
	if done {
		return nil
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("spool %q: fsync: %w", s.name, err)
		}
	}
	s.mu.Lock()
	s.setSynced(upto)
	s.mu.Unlock()
	return nil
}

// removeThrough removes the segments, oldest first, whose records are all
// acknowledged through through (never the write segment), then syncs the
// directory. Under cmu.
func (s *Spool) removeThrough(through uint64) error {
	s.mu.Lock()
	var doomed []*segment
	for _, g := range s.segs {
		if g == s.wseg || g.end > through+1 {
			break
		}
		doomed = append(doomed, g)
	}
	s.mu.Unlock()
	if len(doomed) == 0 {
		return nil
	}
	var err error
	removed := 0
	for _, g := range doomed {
		if e := s.fs.Remove(s.path(g.name)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = fmt.Errorf("spool %q: remove: %w", s.name, e)
			break
		}
		removed++
	}
	if removed > 0 {
		s.mu.Lock()
		for _, g := range doomed[:removed] {
			s.removeSeg(g)
		}
		s.wakeRoom()
		s.mu.Unlock()
		if e := s.fs.SyncDir(s.opts.Dir); e != nil && err == nil {
			err = fmt.Errorf("spool %q: %w", s.name, e)
		}
	}
	return err
}
