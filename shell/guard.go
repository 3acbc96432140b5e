package shell

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
)

// Per-address and global bounds on connections that have not authenticated yet.
const (
	// maxWaiting bounds the queue of connections waiting to authenticate; past it they are refused.
	maxWaiting = 512
	// perHostSlots is how many connections from one address may authenticate at once,
	// so one address cannot take every slot; perHostQueue is how many may wait for one.
	perHostSlots = 8
	perHostQueue = 64
	// sweepAbove is the number of tracked addresses past which idle ones are forgotten.
	sweepAbove = 4096
	// refusalLogEvery rate-limits the warning about refused connections, which cost the
	// sender only a TCP connect.
	refusalLogEvery = time.Minute
)

// guard limits brute force: caps on connections that have not authenticated (global and
// per address), a login grace period, and a lock on source addresses that keep failing.
type guard struct {
	log         *slog.Logger
	grace       time.Duration
	first       time.Duration
	maxFailures int
	window      time.Duration
	lockFor     time.Duration
	unauth      chan struct{} // one token per connection that is authenticating
	waiting     atomic.Int32  // connections queued for a token
	checkNanos  atomic.Int64  // duration of the last real password check

	// Counters for the status model.
	loginsOK, loginsFailed, refusedLocked, refusedBusy atomic.Uint64

	mu        sync.Mutex
	cond      *sync.Cond // signalled when a password check ends
	hosts     map[string]*hostState
	nextSweep int // sweep when hosts grows past this
	lastWarn  time.Time
	unlogged  int // refusals since the last warning
	now       func() time.Time
}

// hostState is what the guard knows about one source address.
type hostState struct {
	slots       chan struct{} // authenticating connections from this address
	queued      int           // connections holding or waiting for a slot
	checking    int           // password checks in flight
	failures    []time.Time   // within the window
	lockedUntil time.Time
}

func newGuard(log *slog.Logger, l Limits) *guard {
	g := &guard{
		log: log, grace: l.LoginGrace, first: l.FirstAttempt, maxFailures: l.LockoutFailures, window: l.LockoutWindow,
		lockFor: l.LockoutDuration, unauth: make(chan struct{}, l.MaxUnauthenticated),
		hosts: map[string]*hostState{}, nextSweep: sweepAbove, now: time.Now,
	}
	g.cond = sync.NewCond(&g.mu)
	return g
}

type ctxKey string

const keyConnState ctxKey = "ferry-conn-state"

// connState is one connection's progress through authentication.
type connState struct {
	once    sync.Once
	authed  atomic.Bool
	tried   atomic.Bool // an authentication method was attempted
	global  bool        // holds a global slot (not when accepted while its address was locked)
	timers  []*time.Timer
	release func()
}

// settle ends the unauthenticated phase: the timers stop and the slots return.
func (c *connState) settle() {
	c.once.Do(func() {
		for _, t := range c.timers {
			t.Stop()
		}
		c.release()
	})
}

type guardedConn struct {
	net.Conn
	state *connState
}

func (g *guardedConn) Close() error {
	g.state.settle()
	return g.Conn.Close()
}

// host returns the state of an address, creating it. g.mu is held.
func (g *guard) host(addr string) *hostState {
	h, ok := g.hosts[addr]
	if !ok {
		if len(g.hosts) >= g.nextSweep {
			// Amortised: a full sweep only after the map doubled since the last one.
			g.sweep()
			g.nextSweep = max(sweepAbove, 2*len(g.hosts))
		}
		h = &hostState{slots: make(chan struct{}, perHostSlots)}
		g.hosts[addr] = h
	}
	return h
}

// sweep forgets addresses with nothing in progress, no lock and no recent failure. g.mu is held.
func (g *guard) sweep() {
	now := g.now()
	for addr, h := range g.hosts {
		if h.queued == 0 && h.checking == 0 && now.After(h.lockedUntil) &&
			(len(h.failures) == 0 || now.Sub(h.failures[len(h.failures)-1]) >= g.window) {
			delete(g.hosts, addr)
		}
	}
}

// accept is the server's ConnCallback. It runs on the connection's own goroutine,
// so waiting for a slot delays only this client: a burst of honest logins queues,
// while at most MaxUnauthenticated handshakes (and their bcrypt work) run at once and
// no address holds more than perHostSlots of them.
func (g *guard) accept(ctx ssh.Context, conn net.Conn) net.Conn {
	accepted := g.now()
	addr := hostOf(conn.RemoteAddr())
	refuse := func(why string) net.Conn {
		g.refusedBusy.Add(1)
		g.warnRefusal(why, conn.RemoteAddr().String())
		return nil
	}
	g.mu.Lock()
	h := g.host(addr)
	if h.queued >= perHostQueue {
		g.mu.Unlock()
		return refuse("too many connections from one address waiting to authenticate")
	}
	h.queued++
	locked := g.lockedLocked(h)
	g.mu.Unlock()
	unqueue := func() {
		g.mu.Lock()
		h.queued--
		g.mu.Unlock()
	}

	deadline := time.NewTimer(g.grace)
	defer deadline.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-deadline.C:
		unqueue()
		return refuse("too many connections from one address authenticating")
	}
	// A locked-out address is refused whatever it sends; it needs no global slot.
	global := !locked
	if global {
		if g.waiting.Add(1) > maxWaiting {
			g.waiting.Add(-1)
			<-h.slots
			unqueue()
			return refuse("too many connections waiting to authenticate")
		}
		select {
		case g.unauth <- struct{}{}:
			g.waiting.Add(-1)
		case <-deadline.C:
			g.waiting.Add(-1)
			<-h.slots
			unqueue()
			return refuse("too many unauthenticated connections")
		}
	}
	st := &connState{global: global, release: func() {
		if global {
			<-g.unauth
		}
		<-h.slots
		unqueue()
	}}
	// The grace period counts from accept, time spent waiting for a slot included.
	st.timers = append(st.timers, time.AfterFunc(g.grace-g.now().Sub(accepted), func() {
		if !st.authed.Load() {
			conn.Close()
		}
	}), time.AfterFunc(g.first, func() {
		if !st.tried.Load() {
			conn.Close()
		}
	}))
	ctx.SetValue(keyConnState, st)
	return &guardedConn{Conn: conn, state: st}
}

// attempted is called for every authentication attempt, whatever its outcome.
func attempted(ctx ssh.Context) {
	if st, ok := ctx.Value(keyConnState).(*connState); ok {
		st.tried.Store(true)
	}
}

// holdsGlobalSlot reports whether the connection may spend a password check.
func holdsGlobalSlot(ctx ssh.Context) bool {
	st, ok := ctx.Value(keyConnState).(*connState)
	return ok && st.global
}

// warnRefusal logs a refused connection at most once per refusalLogEvery, with a count.
func (g *guard) warnRefusal(why, remote string) {
	g.mu.Lock()
	g.unlogged++
	now := g.now()
	if now.Sub(g.lastWarn) < refusalLogEvery {
		g.mu.Unlock()
		return
	}
	n := g.unlogged
	g.lastWarn, g.unlogged = now, 0
	g.mu.Unlock()
	g.log.Warn(why+"; refusing", "remote", remote, "refused_since_last_warning", n)
}

// authenticated is called once a connection has passed authentication.
func authenticated(ctx ssh.Context) {
	if st, ok := ctx.Value(keyConnState).(*connState); ok {
		st.authed.Store(true)
		st.settle()
	}
}

// hostOf is the unit limits apply to: the IPv4 address, or the IPv6 /64 (one
// subscriber's prefix, whose addresses an attacker can rotate through freely).
func hostOf(addr net.Addr) string {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// lockedLocked reports whether h is locked now. g.mu is held.
func (g *guard) lockedLocked(h *hostState) bool { return g.now().Before(h.lockedUntil) }

// locked reports whether addr is refused right now.
func (g *guard) locked(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.hosts[addr]
	return ok && g.lockedLocked(h)
}

// lockedCount is how many addresses are locked out now.
func (g *guard) lockedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, h := range g.hosts {
		if g.lockedLocked(h) {
			n++
		}
	}
	return n
}

// recentFailures drops failures older than the window and counts the rest. g.mu is held.
func (g *guard) recentFailures(h *hostState) int {
	now := g.now()
	keep := h.failures[:0]
	for _, t := range h.failures {
		if now.Sub(t) < g.window {
			keep = append(keep, t)
		}
	}
	h.failures = keep
	return len(keep)
}

// beginCheck admits one password check for addr, or reports false if addr is locked.
// Checks in flight count against the threshold as if they were failures, so a burst
// of parallel guesses cannot get more than maxFailures of them checked: the rest wait
// for the outcome, and are refused if it locks the address.
func (g *guard) beginCheck(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.host(addr)
	for {
		if g.lockedLocked(h) {
			return false
		}
		if g.recentFailures(h)+h.checking < g.maxFailures {
			h.checking++
			return true
		}
		// Only reachable with a check in flight, whose endCheck wakes us.
		g.cond.Wait()
	}
}

// endCheck records a check's outcome; the failure that reaches the threshold locks addr.
func (g *guard) endCheck(addr string, ok bool, took time.Duration) {
	g.checkNanos.Store(int64(took))
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.cond.Broadcast()
	h := g.host(addr)
	h.checking--
	if ok {
		return
	}
	h.failures = append(h.failures, g.now())
	if n := g.recentFailures(h); n >= g.maxFailures {
		h.failures = nil
		h.lockedUntil = g.now().Add(g.lockFor)
		g.log.Warn("source address locked out after repeated login failures",
			"remote", addr, "failures", n, "for", g.lockFor.String())
	}
}

// refuseLikeACheck delays a refusal as long as a real password check takes, so a
// locked-out address cannot tell it apart from a wrong password (and costs no CPU).
func (g *guard) refuseLikeACheck() {
	time.Sleep(time.Duration(g.checkNanos.Load()))
}
