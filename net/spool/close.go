package spool

import (
	"errors"
	"fmt"
	"time"
)

// syncLoop is the spool's one goroutine: every SyncInterval it drops
// expired records and persists the cursor (syncing data and cursor unless
// SyncNever), which also removes acknowledged segments. Close stops it.
func (s *Spool) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.expire()
		if err := s.persist(s.opts.Sync != SyncNever); err != nil {
			s.logError("background sync failed", err)
		}
	}
}

// Close stops the background loop, syncs data and cursor a last time and
// closes the files. Next and Append callers waiting get ErrClosed. It is
// idempotent: later calls return the first one's result.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Spool) close() error {
	s.mu.Lock()
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	close(s.stop)
	<-s.done

	s.rmu.Lock()
	if s.rfile != nil {
		s.rfile.Close()
		s.rfile, s.rseg = nil, nil
	}
	s.rmu.Unlock()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.persist(true)
	if s.w.f != nil {
		s.detachWriter()
	}
	s.cmu.Lock()
	if cerr := s.cur.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("spool %q: cursor: %w", s.name, cerr))
	}
	s.cmu.Unlock()
	if err == nil {
		err = s.markClean()
	}
	return err
}

// cleanName marks a spool closed cleanly; Open removes it.
const cleanName = "clean"

// markClean records that everything is persisted: the next Open is not
// after a crash.
func (s *Spool) markClean() error {
	f, err := s.fs.Create(s.path(cleanName))
	if err != nil {
		return fmt.Errorf("spool %q: clean mark: %w", s.name, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.SyncDir(s.opts.Dir)
	}
	return err
}
