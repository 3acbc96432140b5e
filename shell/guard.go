package shell

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/ferry-appliance/ferry/accounts/lockout"
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

// guard limits what unauthenticated clients cost: caps on connections that have not
// authenticated (global and per address) and a login grace period. Sources that keep
// failing are the lockout's business; the guard only asks it at accept.
type guard struct {
	log     *slog.Logger
	lockout *lockout.Lockout
	grace   time.Duration
	first   time.Duration
	unauth  chan struct{} // one token per connection that is authenticating
	waiting atomic.Int32  // connections queued for a token

	// Counters for the status model.
	loginsOK, refusedBusy atomic.Uint64

	mu        sync.Mutex
	hosts     map[string]*hostState
	nextSweep int // sweep when hosts grows past this
	lastWarn  time.Time
	unlogged  int // refusals since the last warning
	now       func() time.Time
}

// hostState is what the guard knows about one source address.
type hostState struct {
	slots  chan struct{} // authenticating connections from this address
	queued int           // connections holding or waiting for a slot
}

func newGuard(log *slog.Logger, l Limits, lo *lockout.Lockout) *guard {
	return &guard{
		log: log, lockout: lo, grace: l.LoginGrace, first: l.FirstAttempt,
		unauth: make(chan struct{}, l.MaxUnauthenticated),
		hosts:  map[string]*hostState{}, nextSweep: sweepAbove, now: time.Now,
	}
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

// sweep forgets addresses with no connection in progress. g.mu is held.
func (g *guard) sweep() {
	for addr, h := range g.hosts {
		if h.queued == 0 {
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
	g.mu.Unlock()
	locked := g.lockout.Locked(addr)
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

// hostOf is the unit limits apply to, the lockout's: the IPv4 address, or the IPv6 /64.
func hostOf(addr net.Addr) string { return lockout.Source(addr.String()) }
