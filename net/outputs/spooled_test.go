package outputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool"
	"github.com/ferry-appliance/ferry/store"
)

// flaky is a writer that fails while down is set and keeps what it wrote.
type flaky struct {
	mu   sync.Mutex
	down bool
	got  []string
}

func (f *flaky) Start(context.Context) error    { return nil }
func (f *flaky) Shutdown(context.Context) error { return nil }
func (f *flaky) Write(b *event.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("destination down")
	}
	for i := range b.Len() {
		f.got = append(f.got, string(b.Raw(i)))
	}
	return nil
}

func (f *flaky) set(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }
func (f *flaky) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func batchOf(pool *event.Pool, msgs ...string) *event.Batch {
	b := pool.Get("in")
	for _, m := range msgs {
		b.Add(time.Now(), netip.MustParseAddrPort("10.0.0.1:514"), []byte(m))
	}
	return b
}

// The sender holds while paused and while the destination is down, then
// delivers everything once, in order, counting it written once.
func TestSpooledPauseAndRetry(t *testing.T) {
	w := &flaky{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newSpooled("t", w, spool.Options{Dir: t.TempDir(), MaxBytes: 1 << 20}, true, quiet)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	pool := event.NewPool(0, 0)
	s.Accept(batchOf(pool, "a", "b"))
	time.Sleep(100 * time.Millisecond)
	if got := w.written(); len(got) != 0 {
		t.Fatalf("wrote %q while paused", got)
	}
	w.set(true)
	s.Resume()
	s.Accept(batchOf(pool, "c"))
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	w.set(false)
	waitFor(t, "delivery", func() bool { return len(w.written()) == 3 })
	time.Sleep(100 * time.Millisecond)
	if got := w.written(); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("delivered %q, want a b c once each", got)
	}
	if c := s.Counters(); c.EventsIn != 3 || c.Written != 3 || c.LastError != "destination down" {
		t.Errorf("counters = %+v", c)
	}
	if si := s.spoolInfo(); si.Queued != 0 || si.Paused {
		t.Errorf("spool info = %+v", si)
	}
}

// A record dropped by drop-oldest while the sender waited (the destination
// down) is not also delivered: written + dropped = appended.
func TestSpooledDroppedWhileRetryingIsNotDelivered(t *testing.T) {
	w := &flaky{down: true}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newSpooled("t", w, spool.Options{Dir: t.TempDir(), MaxBytes: 64 << 10}, false, quiet)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	pool := event.NewPool(0, 0)
	const n = 400
	rnd := rand.New(rand.NewPCG(1, 2))
	for range n {
		msg := make([]byte, 500) // hard to compress: the spool fills
		for j := range msg {
			msg[j] = byte('a' + rnd.IntN(26))
		}
		s.Accept(batchOf(pool, string(msg)))
	}
	if s.spoolInfo().DropFull == 0 {
		t.Fatal("nothing was dropped: the test proves nothing")
	}
	w.set(false)
	waitFor(t, "the spool drained", func() bool { return s.spoolInfo().Queued == 0 })
	time.Sleep(100 * time.Millisecond)
	si, c := s.spoolInfo(), s.Counters()
	if int(c.Written)+int(si.DropFull) != n || len(w.written()) != int(c.Written) {
		t.Errorf("written %d (destination has %d) + dropped %d != %d appended", c.Written, len(w.written()), si.DropFull, n)
	}
}

// A destination that is not running keeps its spool: removing it without
// --discard-spool is refused while the spool directory holds segments.
func TestRemoveFailedDestinationKeepsItsSpool(t *testing.T) {
	spoolDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(spoolDir, "arch"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spoolDir, "arch", "00000000000000000001.seg"), []byte("backlog"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &Manager{cfg: Config{SpoolDir: spoolDir}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		outs: map[string]*output{"arch": {rec: store.Output{Name: "arch", Type: "file", Target: "/var/lib/ferry/archive"}, err: errors.New("target unwritable")}}}
	err := m.RemoveOutput(context.Background(), "arch", false)
	if err == nil || !strings.Contains(err.Error(), "its spool holds 1 segment files") {
		t.Fatalf("RemoveOutput of a failed destination with a backlog: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spoolDir, "arch", "00000000000000000001.seg")); err != nil {
		t.Errorf("the backlog went: %v", err)
	}
}

// Small batches linger and go to the spool as one record: at once when
// they reach lingerEvents, when Flush is called, or after lingerFor; a
// batch of another input flushes the one before. Under sync always nothing
// lingers.
func TestSpooledLinger(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := event.NewPool(0, 0)
	records := func(s *spooled) (events uint64, records uint64) {
		st := s.sp.Load().Stats()
		return st.Events, st.Records
	}
	s := newSpooled("t", &flaky{}, spool.Options{Dir: t.TempDir(), MaxBytes: 1 << 20}, true, quiet)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	s.Accept(batchOf(pool, "a", "b"))
	s.Accept(batchOf(pool, "c"))
	if ev, _ := records(s); ev != 0 {
		t.Fatalf("%d events in the spool at once; they should linger", ev)
	}
	s.Flush()
	if ev, recs := records(s); ev != 3 || recs != 1 {
		t.Fatalf("after Flush: %d events in %d records, want 3 in 1", ev, recs)
	}
	s.Accept(batchOf(pool, "d"))
	waitFor(t, "the linger to end", func() bool { ev, _ := records(s); return ev == 4 })
	other := pool.Get("other")
	other.Add(time.Now(), netip.MustParseAddrPort("10.0.0.1:514"), []byte("e"))
	s.Accept(batchOf(pool, "f"))
	s.Accept(other) // another input: "f" goes first, on its own
	if ev, recs := records(s); ev != 5 || recs != 3 {
		t.Fatalf("after a batch of another input: %d events in %d records, want 5 in 3", ev, recs)
	}
	big := pool.Get("in")
	for i := range lingerEvents {
		big.Add(time.Now(), netip.AddrPort{}, fmt.Appendf(nil, "m%d", i))
	}
	s.Accept(big) // "e" first, then the big one at once
	if ev, _ := records(s); ev != 6+lingerEvents {
		t.Fatalf("a full batch lingered: %d events", ev)
	}

	a := newSpooled("a", &flaky{}, spool.Options{Dir: t.TempDir(), MaxBytes: 1 << 20, Sync: spool.SyncAlways}, true, quiet)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	a.Accept(batchOf(pool, "x"))
	if ev, _ := records(a); ev != 1 {
		t.Fatalf("sync always: %d events in the spool after Accept", ev)
	}
	// What lingers at Shutdown is appended before the spool closes.
	s.Accept(batchOf(pool, "last"))
	s.Shutdown(context.Background())
	sp, err := spool.Open(spool.Options{Dir: s.opts.Dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if ev := sp.Stats().Events; ev != 7+lingerEvents {
		t.Fatalf("after Shutdown the spool holds %d events, want %d", ev, 7+lingerEvents)
	}
}
