package shell

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
)

// guard limits brute force: a cap on connections that have not authenticated,
// a login grace period, and a lock on source addresses that keep failing.
type guard struct {
	log         *slog.Logger
	grace       time.Duration
	maxFailures int
	window      time.Duration
	lockFor     time.Duration
	unauth      chan struct{} // one token per connection that is authenticating
	waiting     atomic.Int32  // connections queued for a token

	// Counters for the status model.
	loginsOK, loginsFailed, refusedLocked, refusedBusy atomic.Uint64

	mu          sync.Mutex
	failures    map[string][]time.Time
	lockedUntil map[string]time.Time
	now         func() time.Time
}

func newGuard(log *slog.Logger, l Limits) *guard {
	return &guard{
		log: log, grace: l.LoginGrace, maxFailures: l.LockoutFailures, window: l.LockoutWindow,
		lockFor: l.LockoutDuration, unauth: make(chan struct{}, l.MaxUnauthenticated),
		failures: map[string][]time.Time{}, lockedUntil: map[string]time.Time{}, now: time.Now,
	}
}

type ctxKey string

const keyConnState ctxKey = "ferry-conn-state"

// connState is one connection's progress through authentication.
type connState struct {
	once   sync.Once
	authed atomic.Bool
	timer  *time.Timer
	free   func()
}

// settle ends the unauthenticated phase: the grace timer stops and the token returns.
func (c *connState) settle() {
	c.once.Do(func() {
		c.timer.Stop()
		c.free()
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

// maxWaiting bounds the queue of connections waiting to authenticate; past it they are refused.
const maxWaiting = 512

// accept is the server's ConnCallback. It runs on the connection's own goroutine,
// so waiting for a token delays only this client: a burst of honest logins queues,
// while at most MaxUnauthenticated handshakes (and their bcrypt work) run at once.
func (g *guard) accept(ctx ssh.Context, conn net.Conn) net.Conn {
	if g.waiting.Add(1) > maxWaiting {
		g.waiting.Add(-1)
		g.refusedBusy.Add(1)
		g.log.Warn("too many connections waiting to authenticate; refusing", "remote", conn.RemoteAddr().String())
		return nil
	}
	wait := time.NewTimer(g.grace)
	defer wait.Stop()
	select {
	case g.unauth <- struct{}{}:
		g.waiting.Add(-1)
	case <-wait.C:
		g.waiting.Add(-1)
		g.refusedBusy.Add(1)
		g.log.Warn("too many unauthenticated connections; refusing", "remote", conn.RemoteAddr().String())
		return nil
	}
	st := &connState{free: func() { <-g.unauth }}
	st.timer = time.AfterFunc(g.grace, func() {
		if !st.authed.Load() {
			conn.Close()
		}
	})
	ctx.SetValue(keyConnState, st)
	return &guardedConn{Conn: conn, state: st}
}

// authenticated is called once a connection has passed authentication.
func authenticated(ctx ssh.Context) {
	if st, ok := ctx.Value(keyConnState).(*connState); ok {
		st.authed.Store(true)
		st.settle()
	}
}

func hostOf(addr net.Addr) string {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// lockedCount is how many addresses are locked out now.
func (g *guard) lockedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, until := range g.lockedUntil {
		if g.now().Before(until) {
			n++
		}
	}
	return n
}

// locked reports whether host is refused right now.
func (g *guard) locked(host string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.lockedUntil[host]
	if ok && g.now().After(until) {
		delete(g.lockedUntil, host)
		return false
	}
	return ok
}

// fail records a failed password for host and locks it at the threshold.
func (g *guard) fail(host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	recent := g.failures[host][:0]
	for _, t := range g.failures[host] {
		if now.Sub(t) < g.window {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	if len(recent) >= g.maxFailures {
		delete(g.failures, host)
		g.lockedUntil[host] = now.Add(g.lockFor)
		g.log.Warn("source address locked out after repeated login failures",
			"remote", host, "failures", len(recent), "for", g.lockFor.String())
	} else {
		g.failures[host] = recent
	}
	// Bound memory under a spray of addresses: forget the stale ones.
	if len(g.failures) > 4096 {
		for h, ts := range g.failures {
			if now.Sub(ts[len(ts)-1]) >= g.window {
				delete(g.failures, h)
			}
		}
	}
}
