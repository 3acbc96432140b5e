package shell

// Unit tests of the brute-force guard: connection slots, their queue, eviction and
// grouping by address and network on a fake clock, and the shared lockout.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/accounts/lockout"
	"github.com/ferry-appliance/ferry/internal/testutil"
	"github.com/ferry-appliance/ferry/status"
	"github.com/ferry-appliance/ferry/store"
)

// unitConfig is a complete server config around lo, with a real (empty) account store.
func unitConfig(t *testing.T, lo *lockout.Lockout) Config {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "confdb.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		HostKeys: unitKeys{signer}, Accounts: accounts.New(st), Registry: unitRegistry(t),
		Sessions: NewSessions(), Lockout: lo, Status: status.New(), Logger: slog.New(slog.DiscardHandler),
	}
}

type unitKeys []gossh.Signer

func (k unitKeys) Signers() []gossh.Signer { return k }

// unitGuard is a server whose lockout runs on a settable clock.
func unitGuard(t *testing.T) (*Server, *lockout.Lockout, *testutil.Clock) {
	t.Helper()
	clock := testutil.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	lo := lockout.New(lockout.Config{}, slog.New(slog.DiscardHandler), clock.Now)
	s, err := New(unitConfig(t, lo))
	if err != nil {
		t.Fatal(err)
	}
	return s, lo, clock
}

// unitSSHCtx is the part of a connection's ssh.Context the guard uses.
type unitSSHCtx struct {
	context.Context
	sync.Mutex
	remote net.Addr
	user   string
	values map[any]any
}

func newUnitSSHCtx(remote string) *unitSSHCtx {
	return &unitSSHCtx{Context: context.Background(), remote: &net.TCPAddr{IP: net.ParseIP(remote), Port: 40000},
		values: map[any]any{}}
}

func (c *unitSSHCtx) User() string {
	if c.user == "" {
		return "root"
	}
	return c.user
}
func (c *unitSSHCtx) SessionID() string     { return "" }
func (c *unitSSHCtx) ClientVersion() string { return "SSH-2.0-unit" }
func (c *unitSSHCtx) ServerVersion() string { return "SSH-2.0-Ferry" }
func (c *unitSSHCtx) RemoteAddr() net.Addr  { return c.remote }
func (c *unitSSHCtx) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7022}
}
func (c *unitSSHCtx) Permissions() *ssh.Permissions {
	return &ssh.Permissions{Permissions: &gossh.Permissions{}}
}
func (c *unitSSHCtx) SetValue(key, value any) { c.values[key] = value }
func (c *unitSSHCtx) Value(key any) any {
	if v, ok := c.values[key]; ok {
		return v
	}
	return c.Context.Value(key)
}

// unitConn is an accepted socket that goes nowhere.
type unitConn struct {
	net.Conn
	remote net.Addr
}

func (c unitConn) RemoteAddr() net.Addr { return c.remote }
func (c unitConn) Close() error         { return nil }

// unitAccept runs the guard's accept for a client at remote and returns its context.
func (s *Server) unitAccept(t *testing.T, remote string) (*unitSSHCtx, net.Conn) {
	t.Helper()
	ctx := newUnitSSHCtx(remote)
	conn := s.guard.accept(ctx, unitConn{remote: ctx.remote})
	if conn == nil {
		t.Fatalf("accept refused %s", remote)
	}
	t.Cleanup(func() { conn.Close() })
	return ctx, conn
}

// fail records one failed password check for src, as another login path (the web console) does.
func fail(t *testing.T, lo *lockout.Lockout, src string) {
	t.Helper()
	c, ok := lo.Begin(context.Background(), "web", src)
	if !ok {
		t.Fatalf("Begin(%s) refused", src)
	}
	c.End(false)
}

func TestGuardRequiresLockout(t *testing.T) {
	cfg := unitConfig(t, nil)
	if s, err := New(cfg); err == nil || err.Error() != "shell: a lockout is required" {
		t.Fatalf("New without a lockout = %v, %v", s, err)
	}
	cfg.Lockout = lockout.New(lockout.Config{}, nil, nil)
	if _, err := New(cfg); err != nil {
		t.Fatalf("New with a lockout: %v", err)
	}
}

// A wrong SSH password counts in the shared lockout: with four failures from another
// login path it locks the source for both.
func TestGuardPasswordFailureCountsInTheLockout(t *testing.T) {
	s, lo, _ := unitGuard(t)
	const src = "2001:db8::77"
	for range 4 {
		fail(t, lo, "2001:db8::/64")
	}
	ctx, _ := s.unitAccept(t, src)
	if s.checkPassword(ctx, "wrong-password") {
		t.Fatal("a wrong password was accepted")
	}
	if !lo.Locked("2001:db8::/64") {
		t.Fatal("4 web + 1 ssh failures did not lock the /64")
	}
	if st := s.Stats(); st != (Stats{LoginsFailed: 1, LockedOutAddrs: 1}) {
		t.Fatalf("Stats() = %+v", st)
	}
	if ls := lo.Stats(); ls.Services["ssh"].Failed != 1 || ls.Services["web"].Failed != 4 || ls.Locks != 1 {
		t.Fatalf("lockout stats = %+v", ls)
	}
}

// TestHostAndNetOf: the units the limits count. IPv6 addresses count per /64, so
// rotating within a prefix does not escape them; networks are an IPv4 /24 or an IPv6 /48.
func TestHostAndNetOf(t *testing.T) {
	tests := []struct {
		addr      net.Addr
		host, net string
	}{
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5555}, "192.0.2.1", "192.0.2.0/24"},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 77), Port: 5555}, "192.0.2.77", "192.0.2.0/24"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.77"), Port: 5555}, "192.0.2.77", "192.0.2.0/24"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 22}, "2001:db8::/64", "2001:db8::/48"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::ffff:1234"), Port: 22}, "2001:db8::/64", "2001:db8::/48"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:0:1::1"), Port: 22}, "2001:db8:0:1::/64", "2001:db8::/48"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3::1"), Port: 22}, "2001:db8:1:2::/64", "2001:db8:1::/48"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:ffff::1"), Port: 22}, "2001:db8:1:ffff::/64", "2001:db8:1::/48"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 22}, "::/64", "::/48"},
		{&net.UnixAddr{Name: "/run/ferry.sock", Net: "unix"}, "/run/ferry.sock", "/run/ferry.sock"},
	}
	for _, tc := range tests {
		if got := hostOf(tc.addr); got != tc.host {
			t.Errorf("hostOf(%v) = %q, want %q", tc.addr, got, tc.host)
		}
		if got := netOf(tc.addr); got != tc.net {
			t.Errorf("netOf(%v) = %q, want %q", tc.addr, got, tc.net)
		}
	}
}

// Partly filled limits take the defaults for the zero fields, instead of admitting no check.
func TestLimitsWithDefaults(t *testing.T) {
	l := Limits{LoginGrace: time.Second}.withDefaults()
	want := DefaultLimits
	want.LoginGrace = time.Second
	if l != want {
		t.Fatalf("withDefaults = %+v, want %+v", l, want)
	}
}

// fakeClock is the guard's clock in tests: time moves only on Advance, which runs the
// timers that fall due, in order, on the caller's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	f             func()
	stopped, done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		pending := !t.stopped && !t.done
		t.stopped = true
		return pending
	}
}

// Advance moves the clock by d, running each timer due on the way at its time.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.stopped && !t.done && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// testConn is an accepted socket that records whether the server closed it.
type testConn struct {
	net.Conn
	remote net.Addr
	closed atomic.Bool
}

func (c *testConn) RemoteAddr() net.Addr { return c.remote }
func (c *testConn) Close() error         { c.closed.Store(true); return nil }

// guardFixture is a server whose guard runs on a fake clock.
type guardFixture struct {
	t     *testing.T
	s     *Server
	g     *guard
	clock *fakeClock
}

func newGuardFixture(t *testing.T, l Limits) *guardFixture {
	t.Helper()
	cfg := unitConfig(t, lockout.New(lockout.Config{}, slog.New(slog.DiscardHandler), nil))
	cfg.Limits = l
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &guardFixture{t: t, s: s, g: s.guard, clock: newFakeClock()}
	f.g.clock = f.clock
	// Connections still waiting at the end time out, so their accept returns.
	t.Cleanup(func() { f.clock.Advance(time.Hour) })
	return f
}

// client is one connection through the guard.
type client struct {
	f      *guardFixture
	name   string
	ctx    *unitSSHCtx
	sock   *testConn
	result chan net.Conn // what accept returned
	conn   net.Conn      // the guarded conn, once accept gave a slot
}

// connect runs accept for a client at remote and returns once the guard has decided
// (a slot, a place in the queue or a refusal).
func (f *guardFixture) connect(remote string) *client {
	f.t.Helper()
	ctx := newUnitSSHCtx(remote)
	c := &client{f: f, name: remote, ctx: ctx, sock: &testConn{remote: ctx.remote}, result: make(chan net.Conn, 1)}
	f.g.mu.Lock()
	before := f.g.seq
	f.g.mu.Unlock()
	go func() { c.result <- f.g.accept(ctx, c.sock) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.g.mu.Lock()
		decided := f.g.seq > before
		f.g.mu.Unlock()
		if decided {
			return c
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("accept for %s decided nothing", remote)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// where says whether c holds a slot, waits for one, or neither.
func (c *client) where() string {
	g := c.f.g
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, h := range g.holding {
		if h.conn == c.sock {
			return "holding"
		}
	}
	for _, h := range g.hosts {
		for _, w := range h.queue {
			if w.conn == c.sock {
				return "waiting"
			}
		}
	}
	return "gone"
}

// holds requires c to hold a slot and accept to have returned its conn.
func (c *client) holds(t *testing.T) {
	t.Helper()
	if c.conn == nil {
		select {
		case conn := <-c.result:
			if conn == nil {
				t.Fatalf("%s was refused; want a slot", c.name)
			}
			c.conn = conn
			t.Cleanup(func() { conn.Close() })
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got no slot (%s)", c.name, c.where())
		}
	}
	if w := c.where(); w != "holding" || c.sock.closed.Load() {
		t.Fatalf("%s is %s (closed %v); want it holding a slot", c.name, w, c.sock.closed.Load())
	}
}

// waits requires c to wait for a slot.
func (c *client) waits(t *testing.T) {
	t.Helper()
	if w := c.where(); w != "waiting" {
		t.Fatalf("%s is %s; want it waiting for a slot", c.name, w)
	}
}

// refused requires accept to have turned c away.
func (c *client) refused(t *testing.T) {
	t.Helper()
	select {
	case conn := <-c.result:
		if conn != nil {
			t.Fatalf("%s got a slot; want it refused", c.name)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s not refused (%s)", c.name, c.where())
	}
}

// closedByServer requires the server to have closed c's socket and freed its slot.
func (c *client) closedByServer(t *testing.T) {
	t.Helper()
	if !c.sock.closed.Load() || c.where() != "gone" {
		t.Fatalf("%s is %s (closed %v); want it closed by the server", c.name, c.where(), c.sock.closed.Load())
	}
}

// open requires c's socket to be open still.
func (c *client) open(t *testing.T) {
	t.Helper()
	if c.sock.closed.Load() {
		t.Fatalf("%s was closed; want it open", c.name)
	}
}

// probe sends a `none` request, key and password try a method: only those are progress.
func (c *client) probe() { attempted(c.ctx) }
func (c *client) key()   { keyAttempt(c.ctx); attempted(c.ctx) }
func (c *client) password(t *testing.T) {
	t.Helper()
	end, ok := passwordAttempt(c.ctx)
	if !ok {
		t.Fatalf("%s may not check a password", c.name)
	}
	end()
	attempted(c.ctx)
}

// The oldest connection that made no progress gives way to a newcomer from a network
// holding fewer slots; one that tried a key keeps its slot, and networks even out.
func TestGuardEvictsTheOldestConnectionWithoutProgress(t *testing.T) {
	f := newGuardFixture(t, Limits{MaxUnauthenticated: 4})
	var busy []*client
	for i := 1; i <= 4; i++ {
		c := f.connect(fmt.Sprintf("10.1.1.%d", i))
		c.holds(t)
		busy = append(busy, c)
		f.clock.Advance(time.Second)
	}
	busy[0].key()   // progress: it stays
	busy[1].probe() // a `none` probe is no progress
	// A newcomer from another /24 takes the slot of the oldest holder without progress.
	in := f.connect("10.2.2.1")
	in.holds(t)
	busy[1].closedByServer(t)
	busy[0].open(t)
	busy[2].open(t)
	busy[3].open(t)
	// The next one takes the next oldest (its network still holds 3 to 1)...
	in2 := f.connect("10.2.2.2")
	in2.holds(t)
	busy[2].closedByServer(t)
	// ...and then, at 2 to 2, a newcomer from either network waits.
	f.connect("10.2.2.3").waits(t)
	f.connect("10.1.1.9").waits(t)
	if st := f.s.Stats(); st.Evicted != 2 || st.RefusedBusy != 2 {
		t.Fatalf("Stats() = %+v, want 2 evicted", st)
	}
	in.holds(t)
	busy[0].holds(t)
}

// A client from a fresh network gets a slot at once under a flood from 64 addresses
// in 4 networks, and later connections from those cannot push it out.
func TestGuardFreshNetworkGetsASlotUnderAFlood(t *testing.T) {
	f := newGuardFixture(t, Limits{})
	flood := func(n int) {
		for i := range n {
			c := f.connect(fmt.Sprintf("10.0.%d.%d", 10+i%4, 1+i/4%16))
			if c.where() == "holding" {
				c.holds(t)
				c.probe()
			}
		}
	}
	flood(300)
	f.clock.Advance(2 * time.Second)
	admin := f.connect("10.0.99.1")
	admin.holds(t)
	admin.probe()
	flood(300)
	f.clock.Advance(5 * time.Second)
	flood(300)
	admin.password(t)
	admin.holds(t)
	authenticated(admin.ctx)
	if w := admin.where(); w != "gone" || admin.sock.closed.Load() {
		t.Fatalf("after authenticating the admin is %s (closed %v)", w, admin.sock.closed.Load())
	}
}

// Slots are capped per network (IPv4 /24, IPv6 /48) as well as per address (IPv6 /64).
func TestGuardGroupsByNetwork(t *testing.T) {
	tests := []struct {
		name, other string
		addr        func(i int) string
		holding     int
	}{
		{"IPv4 /24", "192.0.3.1", func(i int) string { return fmt.Sprintf("192.0.2.%d", i) }, perNetSlots},
		{"IPv6 /48", "2001:db8:6::1", func(i int) string { return fmt.Sprintf("2001:db8:5:%x::1", i) }, perNetSlots},
		{"IPv6 /64", "2001:db8:7:2::1", func(i int) string { return fmt.Sprintf("2001:db8:7:1::%x", i) }, perHostSlots},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newGuardFixture(t, Limits{})
			for i := 1; i <= 20; i++ {
				c := f.connect(tc.addr(i))
				if i <= tc.holding {
					c.holds(t)
				} else {
					c.waits(t)
				}
			}
			// Another network (or /64) still gets a slot at once.
			f.connect(tc.other).holds(t)
		})
	}
}

// LoginGrace counts from the slot's grant, not from the connect; waiting has its own bound.
func TestGuardGraceCountsFromTheGrant(t *testing.T) {
	f := newGuardFixture(t, Limits{MaxUnauthenticated: 1, QueueWait: 28 * time.Second})
	first := f.connect("10.0.0.1")
	first.holds(t)
	first.key()
	second := f.connect("10.0.0.1")
	second.waits(t)
	f.clock.Advance(25 * time.Second)
	second.waits(t)
	authenticated(first.ctx) // the slot goes to the waiter, 25 s after it connected
	second.holds(t)
	second.password(t)
	late := f.connect("10.0.0.1")
	late.waits(t)
	f.clock.Advance(28 * time.Second)
	late.refused(t) // waited QueueWait
	second.holds(t)
	f.clock.Advance(time.Second)
	second.holds(t) // 29 s after its grant, 54 s after it connected
	f.clock.Advance(time.Second)
	second.closedByServer(t)
	if st := f.s.Stats(); st.RefusedBusy != 1 || st.Evicted != 0 {
		t.Fatalf("Stats() = %+v", st)
	}
}

// A `none` probe is no progress: after FirstAttempt its slot goes to whoever waits,
// even from the same address, while one that tried a key keeps its slot. A socket
// that never asks to authenticate loses its slot at FirstAttempt.
func TestGuardNoneProbeIsNotProgress(t *testing.T) {
	f := newGuardFixture(t, Limits{MaxUnauthenticated: 2})
	probe := f.connect("10.0.0.1")
	probe.holds(t)
	probe.probe()
	keyed := f.connect("10.0.0.1")
	keyed.holds(t)
	keyed.key()
	f.clock.Advance(5 * time.Second)
	waiter := f.connect("10.0.0.1")
	waiter.waits(t)
	f.clock.Advance(5 * time.Second) // FirstAttempt for probe and keyed
	waiter.holds(t)
	probe.closedByServer(t)
	keyed.holds(t)
	// Nobody waits: a slow typist's probed connection keeps its slot past FirstAttempt
	// (until someone needs it).
	authenticated(keyed.ctx)
	typist := f.connect("10.0.0.2")
	typist.holds(t)
	typist.probe()
	f.clock.Advance(10 * time.Second) // FirstAttempt for typist; waiter never asked anything
	waiter.closedByServer(t)
	typist.holds(t)
	// A newcomer takes the stale slot even from a quieter network.
	f.connect("10.0.7.1").holds(t)
	newcomer := f.connect("10.0.0.3")
	newcomer.holds(t)
	typist.closedByServer(t)
	if st := f.s.Stats(); st.Evicted != 2 {
		t.Fatalf("Stats() = %+v, want 2 evicted", st)
	}
}

// A freed slot goes to the waiter whose network holds the fewest slots, not the oldest.
func TestGuardFreedSlotGoesToTheQuietestNetwork(t *testing.T) {
	f := newGuardFixture(t, Limits{MaxUnauthenticated: 2})
	a := f.connect("10.0.1.1")
	a.holds(t)
	a.key()
	b := f.connect("10.0.2.1")
	b.holds(t)
	b.key()
	older := f.connect("10.0.1.2") // its network holds a slot
	older.waits(t)
	fresh := f.connect("10.0.3.1")
	fresh.waits(t)
	authenticated(b.ctx)
	fresh.holds(t)
	older.waits(t)
	authenticated(a.ctx)
	older.holds(t)
}

// A full queue drops its oldest waiter, from the busiest source, rather than refuse
// the newcomer.
func TestGuardFullQueueDropsTheOldest(t *testing.T) {
	f := newGuardFixture(t, Limits{MaxUnauthenticated: 1})
	f.connect("10.9.9.9").holds(t)
	var queue []*client
	for i := range perHostQueue {
		queue = append(queue, f.connect("10.0.0.1"))
		queue[i].waits(t)
	}
	f.connect("10.0.0.1").waits(t)
	queue[0].refused(t)
	queue[1].waits(t)
	// The whole queue: 8 addresses in one /24 fill it; the next from elsewhere drops
	// the oldest waiter of that /24.
	for h := 2; h <= maxWaiting/perHostQueue; h++ {
		for range perHostQueue {
			f.connect(fmt.Sprintf("10.0.0.%d", h)).waits(t)
		}
	}
	other := f.connect("10.0.1.1")
	other.waits(t)
	queue[1].refused(t)
	if st := f.s.Stats(); st.RefusedBusy != 2 {
		t.Fatalf("Stats() = %+v, want 2 refused", st)
	}
}

// A source the shared lockout has locked (here through another login path) still gets a
// slot and logs in with a key; its passwords, even the right one, are refused and counted.
func TestGuardLockedSourceKeepsKeyLogins(t *testing.T) {
	s, lo, _ := unitGuard(t)
	const locked = "192.0.2.10"
	for range 5 {
		fail(t, lo, locked)
	}
	acc := s.cfg.Accounts
	if err := acc.Add("ops", accounts.Admin, "Ops-Initial-0001"); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	if _, err := acc.AddKey("ops", string(gossh.MarshalAuthorizedKey(signer.PublicKey()))); err != nil {
		t.Fatal(err)
	}
	ctx, _ := s.unitAccept(t, locked)
	ctx.user = "ops"
	if s.checkPassword(ctx, "Ops-Initial-0001") {
		t.Fatal("the right password was accepted from a locked source")
	}
	if !s.checkKey(ctx, signer.PublicKey()) {
		t.Fatal("an authorized key was refused from a locked source")
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := gossh.NewPublicKey(other)
	if s.checkKey(ctx, otherKey) {
		t.Fatal("an unknown key was accepted")
	}
	if want := (Stats{RefusedLockedOut: 1, LockedOutAddrs: 1}); s.Stats() != want {
		t.Fatalf("Stats() = %+v, want %+v", s.Stats(), want)
	}
}
