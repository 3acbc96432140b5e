package spool

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Spool is one destination's durable FIFO of batches. Append (the pipeline),
// Next, Ack and Rewind (one sender goroutine), and Stats, Verify, Repair and
// Peek (commands) may run concurrently.
type Spool struct {
	opts   Options
	name   string
	fs     FS
	log    *slog.Logger
	segMax int64 // where segments roll
	codec  *codec

	// Locks, always taken in this order: rmu, wmu, imu, cmu, syncMu, mu.
	rmu   sync.Mutex // the reader's open file (Next)
	rseg  *segment
	rfile File

	wmu sync.Mutex // the writer: Append, rolls, quarantine
	w   writer

	imu sync.Mutex // one index load at a time
	cmu sync.Mutex // the cursor file and segment removal
	cur *cursor
	// syncMu keeps the write segment's file open while the background
	// sync fsyncs it outside wmu (so a slow disk does not stall Append).
	syncMu sync.Mutex

	mu          sync.Mutex // everything below
	segs        []*segment // live segments, in sequence order; the write segment is last
	wseg        *segment   // the segment Append writes to, or nil
	wfile       File       // its file (for syncData)
	bad         []uint64   // first sequence numbers of the quarantined files
	next        uint64     // the sequence number the next event gets
	acked       uint64     // everything through this is acknowledged (or dropped)
	written     uint64     // acked as last written to the cursor file
	durable     uint64     // acked as last synced in the cursor file
	synced      uint64     // records through this sequence number are durable
	readPos     uint64     // the next sequence number Next delivers
	rewound     bool
	closed      bool
	cnt         counters
	recovery    Recovery
	cursorBad   bool      // the cursor file Open found with no valid slot is still in place
	diskFull    bool      // appends are failing with ENOSPC
	diskFullLog time.Time // when that was last logged
	lastLog     time.Time
	quiet       int // errors not logged since lastLog

	closing   chan struct{} // closed by Close: wakes waiters
	dataReady chan struct{} // a record was appended or Rewind called (one waiter: the sender)
	roomWake  chan struct{} // closed and replaced when room may have appeared
	syncWake  chan struct{} // closed and replaced when synced grows
	stop      chan struct{} // ends the background loop
	done      chan struct{} // closed when it has ended
	closeOnce sync.Once
	closeErr  error

	nextFloor uint64      // recovery: sequence numbers below this were used
	lost      []lostRange // recovery: ranges set aside, counted once acked is known
}

type counters struct {
	appended, acked uint64
	dropped         Dropped
	quarantined     int
}

// lostRange is a range of sequence numbers recovery set aside.
type lostRange struct {
	lo, hi  uint64 // [lo, hi)
	records int
}

func (s *Spool) path(name string) string { return filepath.Join(s.opts.Dir, name) }

func (s *Spool) closedErr() error { return fmt.Errorf("spool %q: %w", s.name, ErrClosed) }

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// segFor is the first live segment with records at or after pos. Under mu.
func (s *Spool) segFor(pos uint64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].end > pos })
	if i == len(s.segs) {
		return nil
	}
	return s.segs[i]
}

// eventsIn counts the events present in (a, b]. Under mu.
func (s *Spool) eventsIn(a, b uint64) uint64 {
	var n uint64
	for _, g := range s.segs {
		lo, hi := max(g.first, a+1), min(g.end, b+1)
		if hi > lo {
			n += hi - lo
		}
	}
	return n
}

// badIn reports whether a quarantined file starts in [lo, hi). Under mu.
func (s *Spool) badIn(lo, hi uint64) bool {
	i := sort.Search(len(s.bad), func(i int) bool { return s.bad[i] >= lo })
	return i < len(s.bad) && s.bad[i] < hi
}

func (s *Spool) addBad(first uint64) {
	i := sort.Search(len(s.bad), func(i int) bool { return s.bad[i] >= first })
	s.bad = append(s.bad, 0)
	copy(s.bad[i+1:], s.bad[i:])
	s.bad[i] = first
	s.cnt.quarantined++
}

// removeSeg takes g out of the live list. Under mu.
func (s *Spool) removeSeg(g *segment) {
	for i, x := range s.segs {
		if x == g {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			break
		}
	}
	g.gone = true
	if s.wseg == g {
		s.wseg, s.wfile = nil, nil
	}
	s.signalData() // a waiting reader lets go of the file it may hold
}

// signalData wakes the sender's Next. Under mu.
func (s *Spool) signalData() {
	select {
	case s.dataReady <- struct{}{}:
	default:
	}
}

// wakeRoom wakes Appends waiting for room. Under mu.
func (s *Spool) wakeRoom() {
	close(s.roomWake)
	s.roomWake = make(chan struct{})
}

// logError logs at most once a minute: a failing disk fails every call,
// and the log must not fill what is left of it.
func (s *Spool) logError(msg string, err error) {
	s.mu.Lock()
	now := s.opts.Now()
	if !s.lastLog.IsZero() && now.Sub(s.lastLog) < time.Minute {
		s.quiet++
		s.mu.Unlock()
		return
	}
	quiet := s.quiet
	s.lastLog, s.quiet = now, 0
	s.mu.Unlock()
	s.log.Error(msg, "err", err, "suppressed", quiet)
}

// setSynced records that events through seq are durable and wakes
// WaitDurable. Under mu.
func (s *Spool) setSynced(seq uint64) {
	if seq <= s.synced {
		return
	}
	s.synced = seq
	close(s.syncWake)
	s.syncWake = make(chan struct{})
}

// Durable is the last sequence number known to be on disk (synced).
func (s *Spool) Durable() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced
}

// WaitDurable waits until the event with sequence number seq is synced,
// ctx ends or the spool closes. Under SyncNever nothing is synced before a
// segment rolls: it returns at once, as it does for what was appended
// before Open (recovery synced it).
func (s *Spool) WaitDurable(ctx context.Context, seq uint64) error {
	if s.opts.Sync == SyncNever {
		return nil
	}
	for {
		s.mu.Lock()
		done, wake, closed := s.synced >= seq, s.syncWake, s.closed
		s.mu.Unlock()
		switch {
		case done:
			return nil
		case closed:
			return s.closedErr()
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return s.closedErr()
		}
	}
}
