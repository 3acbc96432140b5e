package lockout

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/internal/testutil"
)

const lockedMsg = "source address locked out"

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTest(cfg Config) (*Lockout, *testutil.Clock, *testutil.Buffer) {
	clock := testutil.NewClock(epoch)
	logs := &testutil.Buffer{}
	return New(cfg, slog.New(slog.NewTextHandler(logs, nil)), clock.Now), clock, logs
}

// fail records one failed check from src, as a login path does.
func fail(t *testing.T, l *Lockout, service, src string) {
	t.Helper()
	c, ok := l.Begin(context.Background(), service, src)
	if !ok {
		t.Fatalf("Begin(%s, %s) refused", service, src)
	}
	c.End(false)
}

// begin admits a check that must not wait.
func begin(t *testing.T, l *Lockout, src string) *Check {
	t.Helper()
	c, ok := l.Begin(context.Background(), "ssh", src)
	if !ok {
		t.Fatalf("Begin(%s) refused", src)
	}
	return c
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		cfg, want Config
	}{
		{Config{}, Default},
		{Config{Failures: 3}, Config{Failures: 3, Window: Default.Window, Duration: Default.Duration}},
		{Config{Failures: -1, Window: time.Minute, Duration: -time.Second}, Config{Failures: 5, Window: time.Minute, Duration: Default.Duration}},
		{Config{Failures: 2, Window: time.Second, Duration: time.Hour}, Config{Failures: 2, Window: time.Second, Duration: time.Hour}},
	}
	for _, tc := range tests {
		if got := New(tc.cfg, nil, nil).cfg; got != tc.want {
			t.Errorf("New(%+v) uses %+v, want %+v", tc.cfg, got, tc.want)
		}
	}
}

func TestLockoutAfterFailures(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"default", Config{}},
		{"three for fifteen minutes", Config{Failures: 3, Duration: 15 * time.Minute}},
		{"one", Config{Failures: 1, Window: time.Minute, Duration: time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, clock, logs := newTest(tc.cfg)
			cfg := l.cfg
			const src = "192.0.2.10"
			step := cfg.Window / time.Duration(2*cfg.Failures)
			for i := 1; i < cfg.Failures; i++ {
				fail(t, l, "ssh", src)
				if l.Locked(src) {
					t.Fatalf("locked after %d failures; the threshold is %d", i, cfg.Failures)
				}
				clock.Advance(step)
			}
			fail(t, l, "ssh", src)
			if !l.Locked(src) {
				t.Fatalf("not locked after %d failures within the window", cfg.Failures)
			}
			if l.Locked("192.0.2.11") {
				t.Error("another source is locked too")
			}
			if _, ok := l.Begin(context.Background(), "ssh", src); ok {
				t.Error("Begin admitted a check from a locked source")
			}
			if n := strings.Count(logs.String(), lockedMsg); n != 1 {
				t.Errorf("lock logged %d times, want once:\n%s", n, logs)
			}
			clock.Advance(cfg.Duration - time.Second)
			if !l.Locked(src) {
				t.Fatal("lock expired before Duration")
			}
			clock.Advance(2 * time.Second)
			if l.Locked(src) {
				t.Fatal("still locked after Duration")
			}
			if cfg.Failures > 1 {
				// The count started over: one more failure does not lock again.
				fail(t, l, "ssh", src)
				if l.Locked(src) {
					t.Error("locked again by a single failure after the lock expired")
				}
			}
		})
	}
}

// Failures count only within the window, which slides: a new failure drops only the
// ones that have grown too old.
func TestWindow(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name   string
		at     []time.Duration // when each failure happens
		lockAt int             // index of the failure that locks; -1: none
	}{
		{"five within the window", []time.Duration{0, m, 2 * m, 3 * m, 4 * m}, 4},
		{"five at once", []time.Duration{0, 0, 0, 0, 0}, 4},
		{"exactly the window later the old ones are too old", []time.Duration{0, 0, 0, 0, 10 * m}, -1},
		{"old ones expire, recent ones count",
			[]time.Duration{0, 0, 0, 0, 10 * m, 11 * m, 12 * m, 13 * m, 14 * m}, 8},
		{"sliding drops only the oldest", []time.Duration{0, 3 * m, 6 * m, 9 * m, 11 * m}, -1},
		{"sliding keeps the other four", []time.Duration{0, 3 * m, 6 * m, 9 * m, 11 * m, 11*m + time.Second}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, clock, _ := newTest(Config{})
			const src = "2001:db8::/64"
			for i, at := range tc.at {
				clock.Advance(epoch.Add(at).Sub(clock.Now()))
				fail(t, l, "ssh", src)
				if want := tc.lockAt >= 0 && i >= tc.lockAt; l.Locked(src) != want {
					t.Fatalf("after failure %d at %s: locked = %v, want %v", i, at, !want, want)
				}
			}
		})
	}
}

// A parallel burst gets no more than Failures checks: the rest wait for the outcome
// and are refused once it locks the source.
func TestInFlightBurst(t *testing.T) {
	l, _, logs := newTest(Config{})
	const src, burst = "198.51.100.7", 30
	admitted := make(chan *Check, burst)
	refused := make(chan struct{}, burst)
	for range burst {
		go func() {
			if c, ok := l.Begin(context.Background(), "ssh", src); ok {
				admitted <- c
			} else {
				refused <- struct{}{}
			}
		}()
	}
	var checks []*Check
	for range 5 {
		select {
		case c := <-admitted:
			checks = append(checks, c)
		case <-refused:
			t.Fatal("refused before anything failed")
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d checks admitted", len(checks))
		}
	}
	select {
	case <-admitted:
		t.Fatal("a sixth check was admitted while five were in flight")
	case <-refused:
		t.Fatal("refused before anything failed")
	case <-time.After(100 * time.Millisecond):
	}
	for _, c := range checks {
		c.End(false)
	}
	for i := range burst - 5 {
		select {
		case <-refused:
		case <-admitted:
			t.Fatal("a check was admitted after five failures")
		case <-time.After(5 * time.Second):
			t.Fatalf("%d waiting checks still not refused", burst-5-i)
		}
	}
	st := l.Stats()
	if st.Services["ssh"].Failed != 5 || st.Locks != 1 || st.Locked != 1 {
		t.Errorf("stats after the burst: %+v", st)
	}
	if n := strings.Count(logs.String(), lockedMsg); n != 1 {
		t.Errorf("lock logged %d times", n)
	}
}

// A check that ends well frees its place for one that waits; a failure does not.
func TestInFlightSuccessAdmitsAWaiter(t *testing.T) {
	l, _, _ := newTest(Config{})
	const src = "192.0.2.20"
	var checks []*Check
	for range 5 {
		checks = append(checks, begin(t, l, src))
	}
	got := make(chan bool, 1)
	go func() {
		c, ok := l.Begin(context.Background(), "ssh", src)
		if ok {
			defer c.End(true)
		}
		got <- ok
	}()
	checks[0].End(false)
	select {
	case <-got:
		t.Fatal("a failure let a waiting check in (4 in flight + 1 failure is the limit)")
	case <-time.After(100 * time.Millisecond):
	}
	checks[1].End(true)
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the waiting check was refused")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a success did not admit the waiting check")
	}
	for _, c := range checks[2:] {
		c.End(true)
	}
}

func TestWaitEndsOnCancel(t *testing.T) {
	l, _, _ := newTest(Config{})
	const src = "192.0.2.30"
	var checks []*Check
	for range 5 {
		checks = append(checks, begin(t, l, src))
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan bool, 1)
	go func() {
		_, ok := l.Begin(ctx, "web", src)
		got <- ok
	}()
	select {
	case <-got:
		t.Fatal("Begin returned while five checks were in flight")
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case ok := <-got:
		if ok {
			t.Fatal("a cancelled wait was admitted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end on cancel")
	}
	for _, c := range checks {
		c.End(true)
	}
	// The abandoned wait left nothing behind: all five places are free again.
	for range 5 {
		begin(t, l, src).End(true)
	}
}

func TestEndTwice(t *testing.T) {
	l, _, _ := newTest(Config{Failures: 2})
	const src = "192.0.2.40"
	c := begin(t, l, src)
	c.End(false)
	c.End(false)
	if l.Locked(src) {
		t.Fatal("a second End counted a second failure")
	}
	if st := l.Stats(); st.Services["ssh"].Failed != 1 {
		t.Fatalf("Failed = %d after one check", st.Services["ssh"].Failed)
	}
	// The check count did not go below zero: two checks fill the limit, a third waits.
	defer begin(t, l, src).End(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if c, ok := l.Begin(ctx, "ssh", src); ok {
		c.End(true)
		t.Fatal("1 failure + 1 in flight admitted another check with Failures 2")
	}
}

func TestRefuseTakesAsLongAsACheck(t *testing.T) {
	l, _, _ := newTest(Config{})
	const took = 300 * time.Millisecond
	c := begin(t, l, "192.0.2.50")
	time.Sleep(took)
	c.End(false)
	start := time.Now()
	l.Refuse("ssh")
	if d := time.Since(start); d < took {
		t.Errorf("Refuse(ssh) took %s; the last ssh check took %s", d, took)
	}
	// Each service imitates its own checks: web has had none yet.
	start = time.Now()
	l.Refuse("web")
	if d := time.Since(start); d >= took/2 {
		t.Errorf("Refuse(web) took %s with no web check yet", d)
	}
	if st := l.Stats().Services; st["ssh"].Refused != 1 || st["web"].Refused != 1 {
		t.Errorf("refusals counted: %+v", st)
	}
}

func TestUnlock(t *testing.T) {
	l, _, _ := newTest(Config{})
	const src = "192.0.2.60"
	if l.Unlock(src) {
		t.Error("Unlock of an unknown source reported something lifted")
	}
	for range 5 {
		fail(t, l, "ssh", src)
	}
	if !l.Unlock(src) || l.Locked(src) {
		t.Fatal("Unlock did not lift the lock")
	}
	if l.Unlock(src) {
		t.Error("a second Unlock reported something lifted")
	}
	if got := l.List(); len(got) != 0 {
		t.Errorf("List after Unlock = %+v", got)
	}
	// Failures are forgotten too: four more do not lock.
	for range 4 {
		fail(t, l, "ssh", src)
	}
	if l.Locked(src) {
		t.Fatal("failures before Unlock still counted")
	}
	if !l.Unlock(src) {
		t.Error("Unlock of a source with failures reported nothing")
	}
	if l.Unlock("192.0.2.61") {
		t.Error("Unlock of an unknown source reported something lifted")
	}

	// Unlock frees the places that failures held for a waiting check.
	for range 3 {
		fail(t, l, "ssh", src)
	}
	a, b := begin(t, l, src), begin(t, l, src)
	got := make(chan bool, 1)
	go func() {
		c, ok := l.Begin(context.Background(), "ssh", src)
		if ok {
			c.End(true)
		}
		got <- ok
	}()
	select {
	case <-got:
		t.Fatal("3 failures + 2 in flight admitted another check")
	case <-time.After(100 * time.Millisecond):
	}
	l.Unlock(src)
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the waiting check was refused after Unlock")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Unlock did not wake the waiting check")
	}
	// Checks in flight at Unlock still count when they end.
	a.End(false)
	b.End(false)
	if got := l.List(); len(got) != 1 || got[0].Failures != 2 {
		t.Errorf("List after two failures in flight at Unlock = %+v", got)
	}
}

func TestList(t *testing.T) {
	l, clock, _ := newTest(Config{})
	fail(t, l, "ssh", "198.51.100.9") // too old by the end
	clock.Advance(5 * time.Minute)
	for range 5 {
		fail(t, l, "web", "192.0.2.2")
	}
	lockedAt := clock.Now()
	clock.Advance(6 * time.Minute)
	fail(t, l, "ssh", "2001:db8::/64")
	fail(t, l, "ssh", "192.0.2.1")
	fail(t, l, "web", "192.0.2.1")
	begin(t, l, "203.0.113.5").End(true) // a success is nothing to list
	want := []Entry{
		{Source: "192.0.2.1", Failures: 2},
		{Source: "192.0.2.2", LockedUntil: lockedAt.Add(10 * time.Minute)},
		{Source: "2001:db8::/64", Failures: 1},
	}
	if got := l.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List() =\n%+v\nwant\n%+v", got, want)
	}
	clock.Advance(5 * time.Minute) // the lock has expired
	if got := l.List(); !reflect.DeepEqual(got, []Entry{want[0], want[2]}) {
		t.Fatalf("List() after the lock expired = %+v", got)
	}
}

func TestStatsByService(t *testing.T) {
	l, clock, _ := newTest(Config{})
	fail(t, l, "ssh", "192.0.2.1")
	fail(t, l, "ssh", "192.0.2.1")
	fail(t, l, "web", "192.0.2.2")
	begin(t, l, "192.0.2.3").End(true)
	for range 5 {
		fail(t, l, "web", "192.0.2.9")
	}
	if !l.Denied("ssh", "192.0.2.9") || !l.Denied("ssh", "192.0.2.9") {
		t.Fatal("Denied let a locked source through")
	}
	if l.Denied("web", "192.0.2.1") {
		t.Fatal("Denied refused a source that is not locked")
	}
	l.Refuse("web")
	want := Stats{
		Services: map[string]ServiceStats{"ssh": {Failed: 2, Refused: 2}, "web": {Failed: 6, Refused: 1}},
		Locks:    1, Locked: 1,
	}
	if got := l.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	clock.Advance(10 * time.Minute)
	want.Locked = 0
	if got := l.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Stats() after the lock expired = %+v, want %+v", got, want)
	}
}

// Two login paths report into one Lockout: their failures add up, and the lock holds for both.
func TestServicesShareTheLock(t *testing.T) {
	l, _, logs := newTest(Config{})
	const src = "192.0.2.77"
	for range 3 {
		fail(t, l, "ssh", src)
	}
	fail(t, l, "web", src)
	if l.Locked(src) {
		t.Fatal("locked after 4 failures")
	}
	fail(t, l, "web", src)
	if !l.Locked(src) {
		t.Fatal("3 ssh + 2 web failures did not lock the source")
	}
	for _, service := range []string{"ssh", "web"} {
		if _, ok := l.Begin(context.Background(), service, src); ok {
			t.Errorf("%s check admitted from the locked source", service)
		}
	}
	if !strings.Contains(logs.String(), "service=web") || strings.Count(logs.String(), lockedMsg) != 1 {
		t.Errorf("want one lock logged, by web:\n%s", logs)
	}
}

// Idle sources are forgotten, so memory stays bounded under a stream of new ones;
// a lock, recent failures and a check in flight are kept.
func TestSweepBoundsMemory(t *testing.T) {
	l, clock, _ := newTest(Config{Window: time.Minute, Duration: time.Hour})
	for range 5 {
		fail(t, l, "ssh", "192.0.2.1")
	}
	inFlight := begin(t, l, "192.0.2.2")
	biggest := 0
	for i := range 10 * sweepAbove {
		if i%1000 == 0 {
			clock.Advance(time.Minute) // the failures so far are too old
		}
		fail(t, l, "ssh", fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
		l.mu.Lock()
		biggest = max(biggest, len(l.sources))
		l.mu.Unlock()
	}
	if biggest > 2*sweepAbove {
		t.Errorf("%d sources held after %d distinct ones; want at most %d", biggest, 10*sweepAbove, 2*sweepAbove)
	}
	if !l.Locked("192.0.2.1") {
		t.Error("the sweep forgot a lock")
	}
	l.mu.Lock()
	_, kept := l.sources["192.0.2.2"]
	l.mu.Unlock()
	if !kept {
		t.Fatal("the sweep forgot a source with a check in flight")
	}
	inFlight.End(false)
	if got := l.List(); !slices.Contains(got, Entry{Source: "192.0.2.2", Failures: 1}) {
		t.Error("the check in flight did not count when it ended")
	}
}

func TestSource(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:5555", "192.0.2.1"},
		// IPv6 addresses count per /64: rotating within a prefix does not escape the limits.
		{"2001:db8::1", "2001:db8::/64"},
		{"[2001:db8::ffff:1234]:22", "2001:db8::/64"},
		{"2001:db8:0:1::1", "2001:db8:0:1::/64"},
		{"::1", "::/64"},
		{"[::1]:22", "::/64"},
		{"/run/ferry.sock", "/run/ferry.sock"},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Source(tc.addr); got != tc.want {
			t.Errorf("Source(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
