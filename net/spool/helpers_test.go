package spool

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool/crashfs"
)

// simFS adapts crashfs (which cannot name this package's File) to FS.
type simFS struct{ *crashfs.FS }

func file(f *crashfs.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s simFS) Create(name string) (File, error)    { return file(s.FS.Create(name)) }
func (s simFS) Open(name string) (File, error)      { return file(s.FS.Open(name)) }
func (s simFS) OpenWrite(name string) (File, error) { return file(s.FS.OpenWrite(name)) }

var _ FS = simFS{}

const dir = "/data/spool/arch"

var (
	pool = event.NewPool(256, 1<<20)
	// modelPool makes the crash model's batches: small, as it keeps many.
	modelPool = event.NewPool(64, 16<<10)
	t0        = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srcs      = []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:514"),
		netip.MustParseAddrPort("[2001:db8::1]:6514"),
		netip.MustParseAddrPort("[fe80::1%eth0]:514"),
		{},
	}
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// msg is event i of batch k: distinct, of a varying size.
func msg(k, i int) []byte {
	m := make([]byte, 0, 160)
	m = append(m, "<134>1 2026-03-01T12:00:00Z host app - batch "...)
	m = strconv.AppendInt(m, int64(k), 10)
	m = append(m, " event "...)
	m = strconv.AppendInt(m, int64(i), 10)
	m = append(m, ' ')
	for j := 0; j < (k*7+i*13)%90; j++ {
		m = append(m, byte('a'+(k+i+j)%26))
	}
	return m
}

// mkBatch is batch k of n events.
func mkBatch(k, n int) *event.Batch { return mkBatchFrom(pool, k, n) }

func mkBatchFrom(p *event.Pool, k, n int) *event.Batch {
	b := p.Get(fmt.Sprintf("in%d", k%3))
	for i := range n {
		recv := t0.Add(time.Duration(k*1000+i) * time.Millisecond)
		if (k+i)%11 == 0 {
			recv = time.Time{}
		}
		b.Add(recv, srcs[(k+i)%len(srcs)], msg(k, i))
	}
	return b
}

// sameBatch says how a and b differ ("" if they do not).
func sameBatch(a, b *event.Batch) string {
	if a.Input != b.Input || a.Len() != b.Len() {
		return fmt.Sprintf("input %q/%q, %d/%d events", a.Input, b.Input, a.Len(), b.Len())
	}
	for i := range a.Events {
		ea, eb := a.Events[i], b.Events[i]
		if !ea.Received.Equal(eb.Received) || ea.Source != eb.Source || !bytes.Equal(a.Raw(i), b.Raw(i)) {
			return fmt.Sprintf("event %d: %v %v %q / %v %v %q", i, ea.Received, ea.Source, a.Raw(i), eb.Received, eb.Source, b.Raw(i))
		}
	}
	return ""
}

// simOpts are options on a fresh simulated disk.
func simOpts(disk *crashfs.FS) Options {
	return Options{Dir: dir, FS: simFS{disk}, MaxBytes: 1 << 30, SyncInterval: time.Hour, Log: discard()}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuf is a logger whose output a test reads.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func mustOpen(t testing.TB, o Options) *Spool {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t testing.TB, s *Spool, from, count, events int) {
	t.Helper()
	for k := from; k < from+count; k++ {
		b := mkBatch(k, events)
		if err := s.Append(context.Background(), b); err != nil {
			t.Fatalf("Append %d: %v", k, err)
		}
		b.Release()
	}
}

// drain reads every record available now.
func drain(t testing.TB, s *Spool) []Record {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []Record
	for {
		r, err := s.Next(ctx)
		if err == context.Canceled {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, r)
	}
}

// checkRecords checks recs are batches ks (of events each, as appendN made them).
func checkRecords(t testing.TB, recs []Record, ks []int, events int) {
	t.Helper()
	if len(recs) != len(ks) {
		t.Fatalf("%d records, want %d", len(recs), len(ks))
	}
	for i, r := range recs {
		got, err := r.Decode(pool)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want := mkBatch(ks[i], events)
		if d := sameBatch(got, want); d != "" {
			t.Fatalf("record %d (seq %d) is not batch %d: %s", i, r.FirstSeq, ks[i], d)
		}
		got.Release()
		want.Release()
	}
}

func seqs(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

var ctxDone = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
