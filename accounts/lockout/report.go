package lockout

import (
	"slices"
	"strings"
	"time"
)

// Entry is one source the lockout remembers, for operators.
type Entry struct {
	Source      string    `json:"source"`
	Failures    int       `json:"failures"`              // within the window
	LockedUntil time.Time `json:"locked_until,omitzero"` // zero when not locked
}

// List returns the sources with recent failures or a lock, sorted by source.
func (l *Lockout) List() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var list []Entry
	for name, s := range l.sources {
		e := Entry{Source: name, Failures: s.recent(now, l.cfg.Window)}
		if now.Before(s.lockedUntil) {
			e.LockedUntil = s.lockedUntil
		}
		if e.Failures > 0 || !e.LockedUntil.IsZero() {
			list = append(list, e)
		}
	}
	slices.SortFunc(list, func(a, b Entry) int { return strings.Compare(a.Source, b.Source) })
	return list
}

// Unlock lifts src's lock and forgets its failures. It reports whether there was
// either to lift; checks in flight go on and count when they end.
func (l *Lockout) Unlock(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sources[src]
	if !ok {
		return false
	}
	now := l.now()
	had := now.Before(s.lockedUntil) || s.recent(now, l.cfg.Window) > 0
	s.failures, s.lockedUntil = nil, time.Time{}
	s.wake()
	if s.checking == 0 {
		delete(l.sources, src)
	}
	return had
}

// ServiceStats are one login path's counters since start.
type ServiceStats struct {
	Failed  uint64 `json:"failed"`  // checks that ended in failure
	Refused uint64 `json:"refused"` // attempts refused because the source was locked
}

// Stats are the lockout's counters since start, for the status model.
type Stats struct {
	Services map[string]ServiceStats `json:"services"` // by service label
	Locks    uint64                  `json:"locks"`    // locks imposed
	Locked   int                     `json:"locked"`   // sources locked now
}

// Stats reports the counters and how many sources are locked now.
func (l *Lockout) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := Stats{Services: make(map[string]ServiceStats, len(l.services)), Locks: l.locks}
	for name, svc := range l.services {
		st.Services[name] = svc.ServiceStats
	}
	for _, s := range l.sources {
		if now.Before(s.lockedUntil) {
			st.Locked++
		}
	}
	return st
}
