// Package lockout locks out login sources that keep failing: Failures failed checks
// from one source within Window lock it for Duration. Every login path (the SSH shell,
// the web console) reports into one Lockout, so guesses on any of them count for all.
package lockout

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Config is the lockout policy; zero (or negative) fields take Default's.
type Config struct {
	Failures int           // failed checks from one source...
	Window   time.Duration // ...within this window...
	Duration time.Duration // ...lock it for this long
}

// Default is the appliance's policy: 5 failures in 10 minutes lock for 10 minutes.
var Default = Config{Failures: 5, Window: 10 * time.Minute, Duration: 10 * time.Minute}

// withDefaults fills every zero field from Default: a zero Failures, say, would
// otherwise admit no check at all.
func (c Config) withDefaults() Config {
	if c.Failures <= 0 {
		c.Failures = Default.Failures
	}
	if c.Window <= 0 {
		c.Window = Default.Window
	}
	if c.Duration <= 0 {
		c.Duration = Default.Duration
	}
	return c
}

// sweepAbove is the number of tracked sources past which idle ones are forgotten.
const sweepAbove = 4096

// Lockout tracks failures and locks per source. It is safe for concurrent use.
type Lockout struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	sources   map[string]*source
	nextSweep int // sweep when sources grows past this
	services  map[string]*service
	locks     uint64
}

// source is what the lockout knows about one source.
type source struct {
	checking    int           // checks in flight
	failures    []time.Time   // within the window, oldest first
	lockedUntil time.Time     // zero or past: not locked
	ended       chan struct{} // closed when a check ends or the lock is lifted; nil while nobody waits
}

// service holds one label's counters and the duration of its last real check.
type service struct {
	ServiceStats
	lastCheck time.Duration
}

// New returns a Lockout with cfg's policy. A nil log is slog.Default(); a nil now is
// time.Now (windows and locks follow now; check durations are real time).
func New(cfg Config, log *slog.Logger, now func() time.Time) *Lockout {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Lockout{
		cfg: cfg.withDefaults(), log: log.With("component", "lockout"), now: now,
		sources: map[string]*source{}, nextSweep: sweepAbove, services: map[string]*service{},
	}
}

// Source is the unit the lockout counts: the IPv4 address, or the IPv6 /64 (one
// subscriber's prefix, whose addresses an attacker can rotate through freely). addr is
// an IP address, with or without a port; anything else is returned unchanged.
func Source(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// Check is one check of a secret that Begin admitted; End it with the outcome.
type Check struct {
	l       *Lockout
	service string
	name    string
	src     *source // kept in the map while checking > 0
	start   time.Time
	ended   bool
}

// Begin admits one check from src for service, or reports false if src is locked.
// Checks in flight count against the threshold as if they had failed, so a burst of
// parallel guesses gets no more than Failures of them checked: the rest wait for an
// outcome and are refused if it locks src. A wait also ends, with false, when ctx does.
func (l *Lockout) Begin(ctx context.Context, service, src string) (*Check, bool) {
	l.mu.Lock()
	for {
		// Looked up again after each wait: an idle source may have been forgotten meanwhile.
		s := l.source(src)
		now := l.now()
		if now.Before(s.lockedUntil) {
			l.mu.Unlock()
			return nil, false
		}
		if s.recent(now, l.cfg.Window)+s.checking < l.cfg.Failures {
			s.checking++
			l.mu.Unlock()
			return &Check{l: l, service: service, name: src, src: s, start: time.Now()}, true
		}
		// Only reachable with a check in flight (the failure that reaches the threshold
		// locks), whose End closes the channel.
		if s.ended == nil {
			s.ended = make(chan struct{})
		}
		ended := s.ended
		l.mu.Unlock()
		select {
		case <-ended:
		case <-ctx.Done():
			return nil, false
		}
		l.mu.Lock()
	}
}

// End records the check's outcome and how long it took, which Refuse then imitates.
// The failure that reaches the threshold locks the source, and is logged once. Calls
// after the first do nothing.
func (c *Check) End(ok bool) {
	took := time.Since(c.start)
	l := c.l
	l.mu.Lock()
	if c.ended {
		l.mu.Unlock()
		return
	}
	c.ended = true
	s := c.src
	s.checking--
	s.wake()
	svc := l.service(c.service)
	svc.lastCheck = took
	if ok {
		l.mu.Unlock()
		return
	}
	svc.Failed++
	now := l.now()
	s.failures = append(s.failures, now)
	n := s.recent(now, l.cfg.Window)
	lock := n >= l.cfg.Failures && !now.Before(s.lockedUntil)
	if lock {
		s.failures = nil
		s.lockedUntil = now.Add(l.cfg.Duration)
		l.locks++
	}
	l.mu.Unlock()
	if lock {
		l.log.Warn("source address locked out after repeated login failures",
			"remote", c.name, "service", c.service, "failures", n, "for", l.cfg.Duration.String())
	}
}

// Refuse counts a refusal for service, then sleeps as long as service's last real check
// took, so a locked-out source cannot tell the refusal from a wrong secret (and it
// costs no CPU).
func (l *Lockout) Refuse(service string) {
	l.mu.Lock()
	svc := l.service(service)
	svc.Refused++
	d := svc.lastCheck
	l.mu.Unlock()
	time.Sleep(d)
}

// Denied reports whether src is locked and, if so, counts a refusal for service with
// no delay, for a caller whose refusal costs nothing to tell apart anyway. (Public
// keys are not locked out at all: they cannot be guessed.)
func (l *Lockout) Denied(service, src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lockedLocked(src) {
		return false
	}
	l.service(service).Refused++
	return true
}

// Locked reports whether src is refused right now.
func (l *Lockout) Locked(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lockedLocked(src)
}

// lockedLocked reports whether src is locked now. l.mu is held.
func (l *Lockout) lockedLocked(src string) bool {
	s, ok := l.sources[src]
	return ok && l.now().Before(s.lockedUntil)
}

// source returns the state of src, creating it. l.mu is held.
func (l *Lockout) source(name string) *source {
	if s, ok := l.sources[name]; ok {
		return s
	}
	if len(l.sources) >= l.nextSweep {
		// Amortised: a full sweep only after the map doubled since the last one.
		l.sweep()
		l.nextSweep = max(sweepAbove, 2*len(l.sources))
	}
	s := &source{}
	l.sources[name] = s
	return s
}

// sweep forgets sources with no check in flight, no lock and no recent failure. l.mu is held.
func (l *Lockout) sweep() {
	now := l.now()
	for name, s := range l.sources {
		if s.idle(now, l.cfg.Window) {
			delete(l.sources, name)
		}
	}
}

// service returns the counters of a label, creating them. l.mu is held.
func (l *Lockout) service(name string) *service {
	svc, ok := l.services[name]
	if !ok {
		svc = &service{}
		l.services[name] = svc
	}
	return svc
}

// recent drops failures older than the window and counts the rest.
func (s *source) recent(now time.Time, window time.Duration) int {
	keep := s.failures[:0]
	for _, t := range s.failures {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	s.failures = keep
	return len(keep)
}

// idle reports whether s can be forgotten without losing anything.
func (s *source) idle(now time.Time, window time.Duration) bool {
	return s.checking == 0 && !now.Before(s.lockedUntil) && s.recent(now, window) == 0
}

// wake releases the checks waiting in Begin, which then look again.
func (s *source) wake() {
	if s.ended != nil {
		close(s.ended)
		s.ended = nil
	}
}
