package shell

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SessionInfo describes one open shell session.
type SessionInfo struct {
	ID      int       `json:"id"`
	Account string    `json:"account"`
	Remote  string    `json:"remote"`
	Mode    Mode      `json:"mode"`
	Started time.Time `json:"started"`
}

// Sessions tracks open sessions so status commands can list them and shutdown can reach them.
type Sessions struct {
	mu    sync.Mutex
	next  int
	open  map[int]*tracked
	empty chan struct{} // closed while no session is open
	// closing is set by closeAll: the shell is stopping, and no session opens any more.
	closing bool
	// notices are the goroutines closeAll started; Shutdown waits for them.
	notices sync.WaitGroup
	// exiting holds sessions that left the tracker but have not yet sent the
	// client their exit status: Shutdown lets them before it cuts connections.
	exiting sync.WaitGroup

	stall atomic.Int64 // see SetStallTimeout; 0: DefaultStallTimeout

	// Refusals over the per-account cap are logged at most once per refusalLogEvery.
	lastRefusalLog  time.Time
	refusedUnlogged int
}

// DefaultStallTimeout is how long a session's output may make no progress (the
// client's channel window stays full: it stopped reading) before the session is closed.
const DefaultStallTimeout = 30 * time.Second

// SetStallTimeout sets how long a session's output may make no progress before
// the session is closed (0 or less: DefaultStallTimeout). It applies to sessions
// opened afterwards; tests shorten it.
func (s *Sessions) SetStallTimeout(d time.Duration) { s.stall.Store(int64(d)) }

func (s *Sessions) stallTimeout() time.Duration {
	if d := time.Duration(s.stall.Load()); d > 0 {
		return d
	}
	return DefaultStallTimeout
}

type tracked struct {
	info   SessionInfo
	notify func(msg string)
	cancel func()
}

// NewSessions returns an empty tracker.
func NewSessions() *Sessions {
	empty := make(chan struct{})
	close(empty)
	return &Sessions{open: map[int]*tracked{}, empty: empty}
}

// admit tracks a new session unless its account already has limit open ones; the
// check and the insertion are one step, so concurrent logins cannot pass the cap.
func (s *Sessions) admit(info SessionInfo, limit int, notify func(string), cancel func()) (id int, ok, closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return 0, false, true
	}
	n := 0
	for _, t := range s.open {
		if t.info.Account == info.Account {
			n++
		}
	}
	if n >= limit {
		return 0, false, false
	}
	s.next++
	info.ID = s.next
	if len(s.open) == 0 {
		s.empty = make(chan struct{})
	}
	s.open[info.ID] = &tracked{info: info, notify: notify, cancel: cancel}
	s.exiting.Add(1)
	return info.ID, true, false
}

// refusalToLog counts a refused session and reports whether to log now, with the
// refusals since the last warning (this one included): a client that keeps asking
// costs one warning a minute.
func (s *Sessions) refusalToLog(now time.Time) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusedUnlogged++
	if !s.lastRefusalLog.IsZero() && now.Sub(s.lastRefusalLog) < refusalLogEvery {
		return 0, false
	}
	n := s.refusedUnlogged
	s.lastRefusalLog, s.refusedUnlogged = now, 0
	return n, true
}

func (s *Sessions) remove(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[id]; !ok {
		return
	}
	delete(s.open, id)
	if len(s.open) == 0 {
		close(s.empty)
	}
}

// exited marks an admitted session's exit status as sent (call exactly once).
func (s *Sessions) exited() { s.exiting.Done() }

// waitExited waits, at most d, for the sessions that left the tracker to send
// their exit status; a client that stopped reading does not hold shutdown up.
func (s *Sessions) waitExited(d time.Duration) {
	done := make(chan struct{})
	go func() { s.exiting.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// List returns the open sessions, oldest first.
func (s *Sessions) List() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.open))
	for _, t := range s.open {
		out = append(out, t.info)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.ID - b.ID })
	return out
}

// Count is the number of open sessions.
func (s *Sessions) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// waitEmpty returns when no session is open, or with ctx's error.
func (s *Sessions) waitEmpty(ctx context.Context) error {
	s.mu.Lock()
	empty := s.empty
	s.mu.Unlock()
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// noticeTimeout is how long a session's shutdown notice may take before the
// session is ended anyway.
const noticeTimeout = time.Second

// closeAll tells every session msg and ends it. Each notice runs on its own
// goroutine, so a client that stops reading blocks only its own notice; that
// write ends when the server closes the connection. waitNotices waits for them.
func (s *Sessions) closeAll(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for _, t := range s.open {
		told := make(chan struct{})
		s.notices.Add(2)
		go func() {
			defer s.notices.Done()
			defer close(told)
			t.notify(msg)
		}()
		go func() {
			defer s.notices.Done()
			timer := time.NewTimer(noticeTimeout)
			defer timer.Stop()
			select {
			case <-told:
			case <-timer.C:
			}
			t.cancel()
		}()
	}
}

// waitNotices waits for the goroutines closeAll started.
func (s *Sessions) waitNotices() { s.notices.Wait() }
