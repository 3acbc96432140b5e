package pipeline

import (
	"bytes"
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
)

// collect is a destination that keeps copies of what it accepted.
type collect struct {
	name string
	got  chan string
}

func (c *collect) Name() string { return c.name }
func (c *collect) Accept(b *event.Batch) {
	for i := range b.Len() {
		c.got <- b.Input + ":" + string(b.Raw(i))
	}
}

func batch(p *event.Pool, input string, msgs ...string) *event.Batch {
	b := p.Get(input)
	for _, m := range msgs {
		b.Add(time.Now(), netip.MustParseAddrPort("10.1.2.3:514"), []byte(m))
	}
	return b
}

func TestRoutesFiltersAndCounts(t *testing.T) {
	pool := event.NewPool(16, 4096)
	p := New(8, nil)
	a, all := &collect{name: "a", got: make(chan string, 16)}, &collect{name: "all", got: make(chan string, 16)}
	disc := NewDiscard("sink")
	noise := &Filter{Name: "noise", Input: "udp1", Drop: func(b *event.Batch, i int) bool { return bytes.Contains(b.Raw(i), []byte("noise")) }}
	p.SetTable(&Table{Filters: []*Filter{noise}, Routes: map[string][]Destination{"udp1": {a, disc}, "*": {all}}})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.TryPut(batch(pool, "udp1", "one", "noise two", "three"))
	p.TryPut(batch(pool, "tcp1", "noise kept: the filter is udp1's"))
	want := map[*collect][]string{a: {"udp1:one", "udp1:three"}, all: {"tcp1:noise kept: the filter is udp1's"}}
	for c, msgs := range want {
		for _, m := range msgs {
			select {
			case got := <-c.got:
				if got != m {
					t.Errorf("%s got %q, want %q", c.name, got, m)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s never got %q", c.name, m)
			}
		}
	}
	// No route and no default: counted as unrouted.
	p.SetTable(&Table{Routes: map[string][]Destination{"udp1": {a}}})
	p.TryPut(batch(pool, "snmp", "x", "y"))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	st := p.Stats()
	if st.Batches != 3 || st.Events != 6 || st.Filtered != 1 || st.Unrouted != 2 || noise.Dropped() != 1 {
		t.Errorf("stats = %+v, noise dropped %d", st, noise.Dropped())
	}
	if n, by := disc.Counts(); n != 2 || by != uint64(len("one")+len("three")) {
		t.Errorf("discard counted %d events, %d bytes", n, by)
	}
	if p.TryPut(batch(pool, "udp1", "late")) {
		t.Error("a stopped pipeline took a batch")
	}
}

// The queue is bounded: a full queue refuses without blocking, and counts it.
func TestQueueFullRefuses(t *testing.T) {
	pool := event.NewPool(4, 1024)
	p := New(2, nil) // not started: nothing drains the queue
	for i := range 2 {
		if !p.TryPut(batch(pool, "udp1", "m")) {
			t.Fatalf("put %d refused", i)
		}
	}
	done := make(chan bool)
	go func() { done <- p.TryPut(batch(pool, "udp1", "m")) }()
	select {
	case ok := <-done:
		if ok {
			t.Error("a full queue took a batch")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("TryPut blocked on a full queue")
	}
	if p.Stats().QueueFull != 1 {
		t.Errorf("queue full count = %d", p.Stats().QueueFull)
	}
	p.Shutdown(context.Background())
}

func BenchmarkRoute(b *testing.B) {
	pool := event.NewPool(256, 256*512)
	p := New(1, nil)
	disc := NewDiscard("sink")
	p.SetTable(&Table{Routes: map[string][]Destination{"*": {disc}}})
	msg := bytes.Repeat([]byte("x"), 500)
	b.ReportAllocs()
	for b.Loop() {
		bt := pool.Get("udp")
		for bt.Add(time.Time{}, netip.AddrPort{}, msg) {
		}
		p.route(bt.Input, bt, false)
	}
}

// A tap copies its input's matching messages; a reader that does not keep up
// makes skips, counted, and never holds the pipeline up.
func TestTapSkipsWhenBehind(t *testing.T) {
	pool := event.NewPool(64, 1<<16)
	p := New(8, nil)
	tap := p.Tap("udp1", func(b *event.Batch, i int) bool { return bytes.Contains(b.Raw(i), []byte("keep")) }, 2)
	p.route("udp1", batch(pool, "udp1", "keep 1", "drop", "keep 2", "keep 3", "keep 4"), false)
	p.route("tcp1", batch(pool, "tcp1", "keep other input"), false)
	if got := (<-tap.C()); string(got.Raw) != "keep 1" || got.Input != "udp1" || !got.Source.IsValid() {
		t.Errorf("first line = %+v", got)
	}
	if got := <-tap.C(); string(got.Raw) != "keep 2" {
		t.Errorf("second line = %q", got.Raw)
	}
	if tap.Skipped() != 2 {
		t.Errorf("skipped = %d, want 2", tap.Skipped())
	}
	tap.Close()
	p.route("udp1", batch(pool, "udp1", "keep after close"), false)
	select {
	case l := <-tap.C():
		t.Errorf("a closed tap got %q", l.Raw)
	default:
	}
}

// gate is a destination whose Accept waits until it is let go.
type gate struct {
	entered chan struct{}
	release chan struct{}
	stopped atomic.Bool
	late    atomic.Int64 // events accepted after it was stopped
}

func (g *gate) Name() string { return "gate" }
func (g *gate) Accept(b *event.Batch) {
	g.entered <- struct{}{}
	<-g.release
	if g.stopped.Load() {
		g.late.Add(int64(b.Len()))
	}
}

// SetTable returns only once the batch routed under the old table is done, so
// a replaced destination can be stopped without a batch arriving after it.
func TestSetTableWaitsForTheBatchInFlight(t *testing.T) {
	pool := event.NewPool(16, 4096)
	p := New(8, nil)
	g := &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
	p.SetTable(&Table{Routes: map[string][]Destination{"*": {g}}})
	p.Start(context.Background())
	defer p.Shutdown(context.Background())
	p.TryPut(batch(pool, "udp1", "in flight"))
	<-g.entered
	swapped := make(chan struct{})
	go func() {
		p.SetTable(&Table{Routes: map[string][]Destination{"*": {NewDiscard("next")}}})
		g.stopped.Store(true) // what the caller does next: stop the old destination
		close(swapped)
	}()
	select {
	case <-swapped:
		t.Fatal("SetTable returned while a batch was in the old destination")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.release)
	<-swapped
	if n := g.late.Load(); n != 0 {
		t.Errorf("%d events reached the destination after it was stopped", n)
	}
}

// A Shutdown whose deadline passes counts what is still queued as abandoned
// and leaves no router running.
func TestShutdownDeadlineCountsWhatIsLeft(t *testing.T) {
	pool := event.NewPool(16, 4096)
	p := New(8, nil)
	g := &gate{entered: make(chan struct{}, 8), release: make(chan struct{})}
	p.SetTable(&Table{Routes: map[string][]Destination{"*": {g}}})
	p.Start(context.Background())
	p.TryPut(batch(pool, "udp1", "routing"))
	<-g.entered
	p.TryPut(batch(pool, "udp1", "left", "behind"))
	p.TryPut(batch(pool, "udp1", "too"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go func() { <-ctx.Done(); time.Sleep(20 * time.Millisecond); close(g.release) }()
	if err := p.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	select {
	case <-p.done:
	default:
		t.Fatal("the router still runs after Shutdown returned")
	}
	if st := p.Stats(); st.Abandoned != 3 || st.Events != 1 {
		t.Errorf("stats = %+v, want 3 abandoned and 1 routed", st)
	}
}

// TestRoute: Route routes at once as the key given, keeps the events'
// own input name, and is refused once the pipeline shuts down.
func TestRoute(t *testing.T) {
	p := New(4, nil)
	relay, other := NewDiscard("relay-out"), NewDiscard("other")
	p.SetTable(&Table{Routes: map[string][]Destination{"relay": {relay}, "fw": {other}}})
	pool := event.NewPool(0, 0)
	b := pool.Get("fw")
	b.Add(time.Time{}, netip.AddrPort{}, []byte("x"))
	if !p.Route("relay", b) {
		t.Fatal("Route refused before shutdown")
	}
	if r, _ := relay.Counts(); r != 1 {
		t.Fatalf("routed %d events to relay, want 1", r)
	}
	if o, _ := other.Counts(); o != 0 {
		t.Fatalf("routed %d events by the input name, want 0", o)
	}
	p.Shutdown(context.Background())
	b = pool.Get("fw")
	if p.Route("relay", b) {
		t.Fatal("Route taken after shutdown")
	}
	b.Release()
}

// flushCount is a destination that counts Accept and Flush calls.
type flushCount struct {
	Discard
	flushes atomic.Int64
}

func (f *flushCount) Flush() { f.flushes.Add(1) }

// TestRouteFlushes: Route flushes a destination that holds batches back;
// the router's own routing does not.
func TestRouteFlushes(t *testing.T) {
	p := New(4, nil)
	d := &flushCount{Discard: *NewDiscard("d")}
	p.SetTable(&Table{Routes: map[string][]Destination{"*": {d}}})
	pool := event.NewPool(0, 0)
	b := pool.Get("x")
	b.Add(time.Time{}, netip.AddrPort{}, []byte("x"))
	p.Route("relay", b)
	if n := d.flushes.Load(); n != 1 {
		t.Fatalf("Route flushed %d times, want 1", n)
	}
	b = pool.Get("x")
	b.Add(time.Time{}, netip.AddrPort{}, []byte("y"))
	p.route("x", b, false)
	if n := d.flushes.Load(); n != 1 {
		t.Fatalf("the router flushed: %d", n)
	}
}
