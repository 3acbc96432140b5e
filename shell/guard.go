package shell

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/ferry-appliance/ferry/accounts/lockout"
)

// Bounds on connections that have not authenticated yet, besides Limits.
const (
	// perHostSlots bounds the slots one address (IPv6: one /64) holds at once, and
	// perNetSlots those of one network (IPv4 /24, IPv6 /48), so no source takes every slot.
	perHostSlots = 8
	perNetSlots  = 16
	// perHostQueue bounds the connections of one address waiting for a slot, maxWaiting
	// all of them; past either the oldest waiter of the busiest source makes room.
	perHostQueue = 64
	maxWaiting   = 512
	// refusalLogEvery rate-limits the warning about refused connections, which cost the
	// sender only a TCP connect.
	refusalLogEvery = time.Minute
)

// clock is the guard's time: real in the server, fake in tests.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; the function returned cancels that.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

var _ clock = realClock{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// guard decides which unauthenticated connections may run the SSH handshake: at most
// Limits.MaxUnauthenticated hold a slot at once, and at most perHostSlots of them come
// from one address, perNetSlots from one network. A connection that gets no slot waits
// (up to Limits.QueueWait) without costing its grace time: LoginGrace and FirstAttempt
// count from the grant.
//
// When every slot is taken, a newcomer takes the slot of another holder, in this order:
//   - stale: it has held its slot for FirstAttempt without progress (no password or
//     public key tried: a `none` probe is no progress), whoever the newcomer is;
//   - unfair: its network holds at least two slots more than the newcomer's (or, within
//     one network, its address two more than the newcomer's), so taking it evens them out;
//     one without progress first, one that progressed only when no such holder is left.
//
// Within a class the busiest network and address lose first, then the oldest holder;
// a password check in flight is never cut short. A newcomer that can take nothing waits;
// a freed slot goes to the waiter whose network, then address, holds the fewest slots
// (then the network served least recently, then the oldest waiter). So a client from a
// fresh network gets a slot at once while some network holds two or more, and once in,
// nothing pushes it out before FirstAttempt: its network is the quietest there is. (A flood
// from more networks than there are slots can still make it wait: then it is first in
// line for each freed slot only among networks that have been served.)
type guard struct {
	log                     *slog.Logger
	clock                   clock
	grace, first, queueWait time.Duration
	maxSlots                int

	// Counters for the status model: refusedBusy counts every connection refused or cut
	// off to make room, evicted the slot holders among them.
	loginsOK, refusedBusy, evicted atomic.Uint64

	mu       sync.Mutex
	hosts    map[string]*group // addresses (IPv6 /64s) with a slot or a waiter
	nets     map[string]*group // networks with a slot or a waiter
	holding  []*connState      // the slot holders, in no order
	waiting  int               // connections waiting for a slot
	seq      uint64            // arrival order
	lastWarn time.Time
	unlogged int      // refusals since the last warning
	after    []func() // what to do once mu is released (closing sockets, logging)
	// closed is set at Shutdown: every connection still logging in is cut and new
	// ones are refused. active counts accepted connections not yet closed; drained
	// is closed when it reaches zero after closed.
	closed  bool
	active  int
	drained chan struct{}
}

// group is the guard's view of one address or one network.
type group struct {
	net       string       // hosts: their network's key
	slots     int          // connections of the group holding a slot
	waiting   int          // connections of the group waiting for one
	queue     []*connState // hosts: their waiters, oldest first
	lastGrant time.Time    // nets: when one of theirs last got a slot
}

// newGuard returns the shell's guard. The lockout is not its business: a locked
// source still gets a slot, for public keys; checkPassword refuses its passwords.
func newGuard(log *slog.Logger, l Limits) *guard {
	return &guard{
		log: log, clock: realClock{}, grace: l.LoginGrace, first: l.FirstAttempt, queueWait: l.QueueWait,
		maxSlots: l.MaxUnauthenticated, hosts: map[string]*group{}, nets: map[string]*group{},
	}
}

type ctxKey string

const keyConnState ctxKey = "ferry-conn-state"

type phase uint8

const (
	phaseNew phase = iota
	phaseWaiting
	phaseHolding
	phaseDone
)

// connState is one connection's progress through authentication.
type connState struct {
	g          *guard
	conn       net.Conn // the socket as accepted
	remote     string
	host, net  string
	seq        uint64
	ready      chan struct{} // closed once the connection has a slot or is refused
	tried      atomic.Bool   // an authentication request arrived (`none` included)
	progressed atomic.Bool   // a password or public key was tried
	authed     atomic.Bool
	phase      phase // the fields from here on are guarded by g.mu
	ok         bool  // got a slot (read by accept once ready is closed)
	idx        int   // in g.holding
	granted    time.Time
	checking   bool // a password check is in flight
	stopQueue  func() bool
	stopGrace  func() bool
	stopFirst  func() bool
}

type guardedConn struct {
	net.Conn
	state *connState
	once  sync.Once // counts the connection out of g.active
}

func (g *guardedConn) Close() error {
	g.state.settle()
	g.once.Do(g.state.g.done)
	return g.Conn.Close()
}

// accept is the server's ConnCallback. It runs on the connection's own goroutine,
// so waiting for a slot delays only this client.
func (g *guard) accept(ctx ssh.Context, conn net.Conn) net.Conn {
	c := &connState{g: g, conn: conn, remote: conn.RemoteAddr().String(), host: hostOf(conn.RemoteAddr()),
		net: netOf(conn.RemoteAddr()), ready: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.unlock()
		return nil
	}
	g.active++
	g.admit(c)
	g.unlock()
	<-c.ready
	g.mu.Lock()
	ok := c.ok
	g.unlock()
	if !ok {
		g.done()
		return nil
	}
	ctx.SetValue(keyConnState, c)
	return &guardedConn{Conn: conn, state: c}
}

// done counts a connection out; the last one after close wakes wait.
func (g *guard) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if g.closed && g.active == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
}

// close is the end of intake: new connections are refused, and every connection
// still waiting for a slot or logging in is cut (authenticated ones are the
// server's to close).
func (g *guard) close() {
	g.mu.Lock()
	g.closed = true
	for _, h := range g.hosts {
		for _, c := range slices.Clone(h.queue) {
			g.release(c)
			close(c.ready) // accept turns it away
		}
	}
	for _, c := range slices.Clone(g.holding) {
		if !c.checking {
			g.release(c)
		}
		g.after = append(g.after, func() { c.conn.Close() })
	}
	g.unlock()
}

// wait returns once every accepted connection has closed, or with ctx's error.
func (g *guard) wait(ctx context.Context) error {
	g.mu.Lock()
	if g.active == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.drained == nil {
		g.drained = make(chan struct{})
	}
	ch := g.drained
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlock releases g.mu, then does what was put off until then.
func (g *guard) unlock() {
	after := g.after
	g.after = nil
	g.mu.Unlock()
	for _, fn := range after {
		fn()
	}
}

// admit gives c a slot, or one taken from a holder that has to make room, or a
// place in the queue. g.mu is held.
func (g *guard) admit(c *connState) {
	g.seq++
	c.seq = g.seq
	now := g.clock.Now()
	h, n := g.groups(c)
	if len(g.holding) < g.maxSlots && h.slots < perHostSlots && n.slots < perNetSlots {
		g.grant(c, now)
		return
	}
	if v := g.victimFor(c, now); v != nil {
		g.evict(v)
		g.grant(c, now)
		return
	}
	// A full queue drops its oldest from the busiest source rather than refuse c.
	switch {
	case len(h.queue) >= perHostQueue:
		g.refuse(h.queue[0], "too many connections from one address waiting to authenticate; refused the oldest")
	case g.waiting >= maxWaiting:
		g.refuse(g.oldestOfBusiestNet(), "too many connections waiting to authenticate; refused the oldest of the busiest network")
	}
	h, n = g.groups(c) // the refusal may have forgotten them
	c.phase = phaseWaiting
	h.queue = append(h.queue, c)
	h.waiting++
	n.waiting++
	g.waiting++
	c.stopQueue = g.clock.AfterFunc(g.queueWait, func() {
		g.mu.Lock()
		if c.phase == phaseWaiting {
			g.refuse(c, "no slot to authenticate within the queue wait; refused")
		}
		g.unlock()
	})
}

// groups returns c's address and network, creating them. g.mu is held.
func (g *guard) groups(c *connState) (*group, *group) {
	h, ok := g.hosts[c.host]
	if !ok {
		h = &group{net: c.net}
		g.hosts[c.host] = h
	}
	n, ok := g.nets[c.net]
	if !ok {
		n = &group{}
		g.nets[c.net] = n
	}
	return h, n
}

// forget drops c's groups once nothing of theirs is left. g.mu is held.
func (g *guard) forget(c *connState) {
	if h := g.hosts[c.host]; h != nil && h.slots == 0 && h.waiting == 0 {
		delete(g.hosts, c.host)
	}
	if n := g.nets[c.net]; n != nil && n.slots == 0 && n.waiting == 0 {
		delete(g.nets, c.net)
	}
}

// grant gives c a slot; its grace time starts now. g.mu is held.
func (g *guard) grant(c *connState, now time.Time) {
	if c.phase == phaseWaiting {
		g.unqueue(c)
	}
	h, n := g.groups(c)
	h.slots++
	n.slots++
	n.lastGrant = now
	c.phase, c.ok, c.granted, c.idx = phaseHolding, true, now, len(g.holding)
	g.holding = append(g.holding, c)
	c.stopGrace = g.clock.AfterFunc(g.grace, func() {
		if !c.authed.Load() {
			g.cut(c)
		}
	})
	c.stopFirst = g.clock.AfterFunc(g.first, func() { g.firstDue(c) })
	close(c.ready)
}

// unqueue takes a waiting c out of the queue. g.mu is held.
func (g *guard) unqueue(c *connState) {
	h, n := g.hosts[c.host], g.nets[c.net]
	for i, w := range h.queue {
		if w == c {
			h.queue = append(h.queue[:i], h.queue[i+1:]...)
			break
		}
	}
	h.waiting--
	n.waiting--
	g.waiting--
	c.stopQueue()
	c.phase = phaseDone
}

// release returns c's slot, or takes it out of the queue, without granting the slot to
// anyone. g.mu is held.
func (g *guard) release(c *connState) {
	switch c.phase {
	case phaseWaiting:
		g.unqueue(c)
	case phaseHolding:
		last := g.holding[len(g.holding)-1]
		g.holding[c.idx], last.idx = last, c.idx
		g.holding = g.holding[:len(g.holding)-1]
		g.hosts[c.host].slots--
		g.nets[c.net].slots--
		c.stopGrace()
		c.stopFirst()
		c.phase = phaseDone
	default:
		return
	}
	g.forget(c)
}

// fill grants free slots to the waiters that may have them. g.mu is held.
func (g *guard) fill() {
	now := g.clock.Now()
	for len(g.holding) < g.maxSlots {
		w := g.nextWaiter(nil)
		if w == nil {
			return
		}
		g.grant(w, now)
	}
}

// nextWaiter is the waiter a free slot goes to (one vacated by without, if not nil):
// among the oldest waiters of each address that the caps admit, the one whose network
// and then address hold the fewest slots, then whose network was served least
// recently, then the oldest. g.mu is held.
func (g *guard) nextWaiter(without *connState) *connState {
	var best *connState
	var bestNet, bestHost int
	var bestLast time.Time
	for _, h := range g.hosts {
		if len(h.queue) == 0 {
			continue
		}
		w := h.queue[0]
		n := g.nets[w.net]
		hs, ns := h.slots, n.slots
		if without != nil {
			if without.host == w.host {
				hs--
			}
			if without.net == w.net {
				ns--
			}
		}
		if hs >= perHostSlots || ns >= perNetSlots {
			continue
		}
		if best == nil || ns < bestNet || ns == bestNet && (hs < bestHost || hs == bestHost &&
			(n.lastGrant.Before(bestLast) || n.lastGrant.Equal(bestLast) && w.seq < best.seq)) {
			best, bestNet, bestHost, bestLast = w, ns, hs, n.lastGrant
		}
	}
	return best
}

// victimFor returns the holder whose slot c may take, or nil (see guard). g.mu is held.
func (g *guard) victimFor(c *connState, now time.Time) *connState {
	h, n := g.hosts[c.host], g.nets[c.net]
	var best *connState
	var bestClass, bestNet, bestHost int
	for _, v := range g.holding {
		if v.checking {
			continue
		}
		// Without v, c must fit under its caps.
		hs, ns := h.slots, n.slots
		if v.host == c.host {
			hs--
		}
		if v.net == c.net {
			ns--
		}
		if hs >= perHostSlots || ns >= perNetSlots {
			continue
		}
		vn, vh := g.nets[v.net].slots, g.hosts[v.host].slots
		progressed := v.progressed.Load()
		var class int
		switch {
		case !progressed && now.Sub(v.granted) >= g.first:
			class = 0
		case v.net != c.net && vn > n.slots+1, v.net == c.net && v.host != c.host && vh > h.slots+1:
			class = 1
			if progressed {
				class = 2
			}
		default:
			continue
		}
		if best == nil || class < bestClass || class == bestClass && (vn > bestNet || vn == bestNet &&
			(vh > bestHost || vh == bestHost && v.granted.Before(best.granted))) {
			best, bestClass, bestNet, bestHost = v, class, vn, vh
		}
	}
	return best
}

// oldestOfBusiestNet is the oldest waiter of the network with the most waiters. g.mu is held.
func (g *guard) oldestOfBusiestNet() *connState {
	var busiest string
	most := 0
	for key, n := range g.nets {
		if n.waiting > most {
			busiest, most = key, n.waiting
		}
	}
	var oldest *connState
	for _, h := range g.hosts {
		if h.net == busiest && len(h.queue) > 0 && (oldest == nil || h.queue[0].seq < oldest.seq) {
			oldest = h.queue[0]
		}
	}
	return oldest
}

// firstDue runs FirstAttempt after c got its slot. A socket that has not even asked
// to authenticate loses it; one that sent only `none` is stale, and its slot goes to
// a waiter if one can have it. g.mu is not held.
func (g *guard) firstDue(c *connState) {
	if c.progressed.Load() {
		return
	}
	if !c.tried.Load() {
		g.cut(c)
		return
	}
	g.mu.Lock()
	if c.phase == phaseHolding && !c.checking && !c.progressed.Load() {
		if w := g.nextWaiter(c); w != nil {
			g.evict(c)
			g.grant(w, g.clock.Now())
		}
	}
	g.unlock()
}

// cut closes c (out of time); its slot goes to the next waiter, unless a password
// check is in flight: then it returns when the handshake ends. g.mu is not held.
func (g *guard) cut(c *connState) {
	g.mu.Lock()
	if c.phase != phaseHolding { // authenticated, closed or evicted meanwhile
		g.unlock()
		return
	}
	if !c.checking {
		g.release(c)
		g.fill()
	}
	g.after = append(g.after, func() { c.conn.Close() })
	g.unlock()
}

// evict takes c's slot to give it to another connection and closes c. g.mu is held.
func (g *guard) evict(c *connState) {
	g.evicted.Add(1)
	g.refusedBusy.Add(1)
	g.release(c)
	g.warnRefusal("all slots to authenticate taken; closed a connection that made no progress", c.remote)
	g.after = append(g.after, func() { c.conn.Close() })
}

// refuse takes a waiting c out of the queue and lets accept turn it away. g.mu is held.
func (g *guard) refuse(c *connState, why string) {
	g.refusedBusy.Add(1)
	g.release(c)
	close(c.ready)
	g.warnRefusal(why, c.remote)
}

// settle ends c's unauthenticated phase: its slot goes to the next waiter.
func (c *connState) settle() {
	g := c.g
	g.mu.Lock()
	if c.phase == phaseHolding {
		g.release(c)
		g.fill()
	}
	g.unlock()
}

// warnRefusal logs a refused connection at most once per refusalLogEvery, with a count.
// g.mu is held; the log is written once it is released.
func (g *guard) warnRefusal(why, remote string) {
	g.unlogged++
	now := g.clock.Now()
	if now.Sub(g.lastWarn) < refusalLogEvery {
		return
	}
	n := g.unlogged
	g.lastWarn, g.unlogged = now, 0
	g.after = append(g.after, func() {
		g.log.Warn(why, "remote", remote, "refused_since_last_warning", n)
	})
}

func stateOf(ctx ssh.Context) *connState {
	c, _ := ctx.Value(keyConnState).(*connState)
	return c
}

// attempted is called for every authentication request, whatever its method and outcome.
func attempted(ctx ssh.Context) {
	if c := stateOf(ctx); c != nil {
		c.tried.Store(true)
	}
}

// keyAttempt records a public-key attempt as progress and reports whether the
// connection still holds its slot (else it has been closed and the key is not checked).
func keyAttempt(ctx ssh.Context) bool {
	c := stateOf(ctx)
	if c == nil {
		return false
	}
	c.tried.Store(true)
	c.progressed.Store(true)
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.phase == phaseHolding
}

// passwordAttempt records a password attempt as progress and, if the connection still
// holds its slot, marks a check in flight (the slot is not taken from it meanwhile) and
// returns the function that ends it; without a slot it returns false.
func passwordAttempt(ctx ssh.Context) (end func(), ok bool) {
	c := stateOf(ctx)
	if c == nil {
		return nil, false
	}
	c.tried.Store(true)
	c.progressed.Store(true)
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.phase != phaseHolding {
		return nil, false
	}
	c.checking = true
	return func() {
		g.mu.Lock()
		c.checking = false
		g.mu.Unlock()
	}, true
}

// authenticated is called once a connection has passed authentication.
func authenticated(ctx ssh.Context) {
	if c := stateOf(ctx); c != nil {
		c.authed.Store(true)
		c.settle()
	}
}

// hostOf is the unit per-address limits apply to, the lockout's: the IPv4 address,
// or the IPv6 /64.
func hostOf(addr net.Addr) string { return lockout.Source(addr.String()) }

// netOf is the network a source belongs to for the per-network limits: the IPv4 /24
// or the IPv6 /48 (one site's allocation); anything else stands for itself.
func netOf(addr net.Addr) string {
	host := addr.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return (&net.IPNet{IP: ip.To4().Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}).String()
	default:
		return (&net.IPNet{IP: ip.Mask(net.CIDRMask(48, 128)), Mask: net.CIDRMask(48, 128)}).String()
	}
}
