// Package selflog turns the daemon's own log (its daemon and audit
// records) into events for the sentry bases (sentry.addBase): each record
// becomes one RFC 5424 line from app ferryd, severity from its level.
package selflog

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/status"
)

// Input is the input name the events carry.
const Input = "ferry"

// Feed takes log records (Write, as the log's writer) and delivers them in
// batches. Writing never blocks the logger: records beyond its buffer are
// counted as dropped.
type Feed struct {
	host    string
	deliver func(*event.Batch)
	lines   chan []byte
	pool    *event.Pool
	now     func() time.Time

	dropped   atomic.Uint64
	delivered atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
	started   atomic.Bool
	once      sync.Once
	model     *status.Model
	reg       *status.Registration
}

// New makes a feed for host that hands batches to deliver (which keeps
// nothing of a batch after it returns).
func New(host string, deliver func(*event.Batch)) *Feed {
	return &Feed{host: host, deliver: deliver, lines: make(chan []byte, 4096), pool: event.NewPool(256, 1<<20),
		now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
}

// Write takes one record (slog writes each with one call). Records written
// before Start wait in the buffer, so the start-up's own lines go too.
func (f *Feed) Write(p []byte) (int, error) {
	select {
	case f.lines <- bytes.TrimRight(bytes.Clone(p), "\n"):
	default:
		f.dropped.Add(1)
	}
	return len(p), nil
}

// Report makes Start register the feed's counters (the sentry section) in m.
func (f *Feed) Report(m *status.Model) { f.model = m }

var (
	feedDelivered = status.NewCounter("log_records_total", "Daemon log records handed to the sentry bases")
	feedDropped   = status.NewCounter("log_dropped_total", "Daemon log records not handed on, by reason (buffer_full: the feed's 4096 were waiting)", "reason")
)

func (f *Feed) fields() []status.Field {
	d, dr := f.Stats()
	return []status.Field{feedDelivered.Field(d), feedDropped.Field(dr, "buffer_full")}
}

// Start runs the batcher.
func (f *Feed) Start(context.Context) error {
	if f.model != nil {
		reg, err := f.model.Register("sentry", nil, f.fields)
		if err != nil {
			return err
		}
		f.reg = reg
	}
	f.started.Store(true)
	go f.run()
	return nil
}

// Shutdown delivers what is buffered and stops. Idempotent.
func (f *Feed) Shutdown(context.Context) error {
	if !f.started.Load() {
		return nil
	}
	f.once.Do(func() {
		close(f.stop)
		f.reg.Remove()
	})
	<-f.done
	return nil
}

// Stats: records delivered and dropped (the buffer was full).
func (f *Feed) Stats() (delivered, dropped uint64) { return f.delivered.Load(), f.dropped.Load() }

func (f *Feed) run() {
	defer close(f.done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var b *event.Batch
	flush := func() {
		if b != nil && b.Len() > 0 {
			f.delivered.Add(uint64(b.Len()))
			f.deliver(b)
		}
		if b != nil {
			b.Release()
		}
		b = nil
	}
	add := func(line []byte) {
		if b == nil {
			b = f.pool.Get(Input)
		}
		now := f.now()
		raw := f.format(line, now)
		if !b.Add(now, netip.AddrPort{}, raw) {
			flush()
			b = f.pool.Get(Input)
			b.Add(now, netip.AddrPort{}, raw)
		}
	}
	for {
		select {
		case line := <-f.lines:
			add(line)
		case <-tick.C:
			flush()
		case <-f.stop:
			for {
				select {
				case line := <-f.lines:
					add(line)
				default:
					flush()
					return
				}
			}
		}
	}
}

// format makes the RFC 5424 line: facility 1 (user), severity from level=.
func (f *Feed) format(line []byte, now time.Time) []byte {
	sev := 6
	switch {
	case bytes.Contains(line, []byte("level="+slog.LevelError.String())):
		sev = 3
	case bytes.Contains(line, []byte("level="+slog.LevelWarn.String())):
		sev = 4
	case bytes.Contains(line, []byte("level="+slog.LevelDebug.String())):
		sev = 7
	}
	out := make([]byte, 0, len(line)+64)
	out = append(out, '<')
	out = strconv.AppendInt(out, int64(8+sev), 10)
	out = append(out, ">1 "...)
	out = now.UTC().AppendFormat(out, "2006-01-02T15:04:05.000000Z07:00")
	out = append(out, ' ')
	out = append(out, f.host...)
	out = append(out, " ferryd - - - "...)
	return append(out, line...)
}
