package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/spool"
)

// endpoint is what a spool delivers to: a writer or a shipper.
type endpoint interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// writer is a destination that delivers a batch and says whether it did
// (file.Output.Write): what a spool's sender acknowledges.
type writer interface {
	endpoint
	Write(b *event.Batch) error
}

// shipper reads the spool itself and acknowledges what its far end did
// (relay.Client: records shipped as stored, several in flight, to one base
// or a pair), until ctx ends. hold is true while paused.
type shipper interface {
	endpoint
	Ship(ctx context.Context, sp *spool.Spool, hold func() bool, delivered func(events uint64))
}

// spooled puts a durable spool in front of a writer: Accept appends to the
// spool (the pipeline's side), and a sender reads the spool in order, writes
// and acknowledges (the destination's side). A destination that is down,
// slow or paused costs the pipeline nothing but spool space; nothing
// appended is lost to it.
type spooled struct {
	name string
	w    endpoint // a writer or a shipper
	opts spool.Options
	pool *event.Pool
	log  *slog.Logger

	sp        atomic.Pointer[spool.Spool]
	ready     chan struct{} // closed once Start or Shutdown has run: Accept waits for it
	readyOnce sync.Once

	intake       context.Context // Accept's, for a blocking spool
	stopIntake   context.CancelFunc
	sending      context.Context
	stopSending  context.CancelFunc
	wg           sync.WaitGroup
	paused       atomic.Bool
	wake         chan struct{} // resume
	shutdownOnce sync.Once

	// linger gathers small batches into one record (see Accept).
	lmu     sync.Mutex
	pend    *event.Batch // events waiting for the record, nil when none
	lpool   *event.Pool
	ltimer  *time.Timer
	larmed  bool
	lclosed bool

	in, blocked, failed, written, corrupt atomic.Uint64
	lastErr                               atomic.Pointer[string]
	inRate, outRate                       atomic.Uint64 // float64 bits, events/s
}

func newSpooled(name string, w endpoint, opts spool.Options, paused bool, log *slog.Logger) *spooled {
	s := &spooled{name: name, w: w, opts: opts, pool: event.NewPool(0, 0), lpool: event.NewPool(lingerEvents, 4<<20), log: log.With("output", name),
		wake: make(chan struct{}, 1), ready: make(chan struct{})}
	s.intake, s.stopIntake = context.WithCancel(context.Background())
	s.sending, s.stopSending = context.WithCancel(context.Background())
	s.paused.Store(paused)
	return s
}

func (s *spooled) Name() string { return s.name }

// Start opens the spool (recovering what a crash left), starts the writer,
// then the sender.
func (s *spooled) Start(ctx context.Context) error {
	sp, err := spool.Open(s.opts)
	if err != nil {
		return fmt.Errorf("output %q: %w", s.name, err)
	}
	if err := s.w.Start(ctx); err != nil {
		sp.Close()
		return err
	}
	s.sp.Store(sp)
	s.wg.Add(2)
	switch w := s.w.(type) {
	case shipper:
		go func() {
			defer s.wg.Done()
			w.Ship(s.sending, sp, s.paused.Load, func(n uint64) { s.written.Add(n) })
		}()
	case writer:
		go s.send(w)
	}
	go s.measure()
	s.readyOnce.Do(func() { close(s.ready) })
	return nil
}

// Small batches linger: at a steady 100k msgs/s a UDP reader hands on
// batches of a dozen events, and every record costs a frame, a write, a
// relay round trip and a record at the far end whatever its size. They are
// gathered, per input, into one record of up to lingerEvents events, held
// for at most lingerFor. Under --sync always nothing lingers (a batch is on
// disk before Accept returns); otherwise what lingers is, like the
// pipeline's queue, in memory for those few milliseconds.
const (
	lingerEvents = 256
	lingerFor    = 5 * time.Millisecond
)

// Accept appends b to the spool, or gathers it with the batches before it
// (see lingerEvents); with the block policy it waits for room until the
// destination stops taking intake. A destination that replaces another is
// in the pipeline's table before its spool is open (the old one must close
// the directory first): Accept waits for Start.
func (s *spooled) Accept(b *event.Batch) {
	<-s.ready
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.pend != nil && s.pend.Input != b.Input {
		s.flushLocked()
	}
	if s.opts.Sync == spool.SyncAlways || b.Len() >= lingerEvents || s.lclosed {
		s.flushLocked()
		s.appendNow(b)
		return
	}
	for i := range b.Len() {
		if s.pend == nil {
			s.pend = s.lpool.Get(b.Input)
		}
		e := b.Events[i]
		if !s.pend.Add(e.Received, e.Source, b.Raw(i)) {
			s.flushLocked()
			s.pend = s.lpool.Get(b.Input)
			s.pend.Add(e.Received, e.Source, b.Raw(i))
		}
	}
	if s.pend.Len() >= lingerEvents {
		s.flushLocked()
		return
	}
	if !s.larmed {
		s.larmed = true
		if s.ltimer == nil {
			s.ltimer = time.AfterFunc(lingerFor, s.Flush)
		} else {
			s.ltimer.Reset(lingerFor)
		}
	}
}

// Flush appends what lingers now (pipeline.Flusher: a source that
// acknowledges its events once routed needs them in the spool).
func (s *spooled) Flush() {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	s.flushLocked()
}

// flushLocked appends the lingering record. Under lmu.
func (s *spooled) flushLocked() {
	if s.larmed {
		s.ltimer.Stop()
		s.larmed = false
	}
	if s.pend == nil {
		return
	}
	b := s.pend
	s.pend = nil
	s.appendNow(b)
	b.Release()
}

// appendNow appends b to the spool and counts the outcome.
func (s *spooled) appendNow(b *event.Batch) {
	n := uint64(b.Len())
	sp := s.sp.Load()
	if sp == nil {
		s.failed.Add(n)
		return
	}
	err := sp.Append(s.intake, b)
	switch {
	case err == nil:
		s.in.Add(n)
		return
	case errors.Is(err, spool.ErrFull):
		s.blocked.Add(n) // block policy: no room before intake stopped
	case errors.Is(err, spool.ErrDiskFull), errors.Is(err, spool.ErrTooLarge):
		// The spool counts these itself.
	default:
		s.failed.Add(n)
	}
	s.setErr(err)
}

func (s *spooled) setErr(err error) {
	msg := err.Error()
	s.lastErr.Store(&msg)
}

// Pause holds sending; the spool keeps filling. Resume lets it go on.
func (s *spooled) Pause() { s.paused.Store(true) }
func (s *spooled) Resume() {
	s.paused.Store(false)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waitResumed blocks while paused; false when the sender is stopping.
func (s *spooled) waitResumed() bool {
	for s.paused.Load() {
		select {
		case <-s.sending.Done():
			return false
		case <-s.wake:
		case <-time.After(time.Second):
		}
	}
	return s.sending.Err() == nil
}

// send is the sender: read in order, write, acknowledge. A failed write is
// retried, backing off to 30 s, and never skipped. While it waits (paused,
// or backing off) the record it holds may be dropped by the spool's full
// policy, so each retry reads the spool's head again (Rewind) rather than
// writing what it holds: a dropped record is never also delivered.
func (s *spooled) send(w writer) {
	defer s.wg.Done()
	sp := s.sp.Load()
	backoff := time.Duration(0)
	for s.waitResumed() {
		rec, err := sp.Next(s.sending)
		if err != nil {
			if s.sending.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			s.setErr(err)
			s.log.Error("spool read failed", "err", err)
			if !s.sleep(time.Second) {
				return
			}
			continue
		}
		if s.paused.Load() {
			// Paused while this record was awaited: read the head again once resumed.
			sp.Rewind()
			continue
		}
		b, err := rec.Decode(s.pool)
		if err != nil {
			// The record passed its checksum yet does not decode: skip it, counted.
			s.corrupt.Add(uint64(rec.Count))
			s.setErr(err)
			s.log.Error("spooled record does not decode; skipped", "first_seq", rec.FirstSeq, "events", rec.Count, "err", err)
			sp.Ack(rec.LastSeq())
			continue
		}
		err = w.Write(b)
		b.Release()
		if err != nil {
			s.setErr(err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 30*time.Second)
			if !s.sleep(backoff) {
				return // the record stays in the spool
			}
			sp.Rewind()
			continue
		}
		backoff = 0
		if err := sp.Ack(rec.LastSeq()); err != nil {
			s.setErr(err)
			s.log.Error("spool acknowledge failed", "err", err)
		}
		s.written.Add(uint64(rec.Count))
	}
}

func (s *spooled) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.sending.Done():
		return false
	case <-t.C:
		return true
	}
}

// measure keeps the in and out rates (events/s over the last seconds).
func (s *spooled) measure() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastIn, lastOut, last := s.in.Load(), s.written.Load(), time.Now()
	var in, out float64
	for {
		select {
		case <-s.sending.Done():
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			curIn, curOut := s.in.Load(), s.written.Load()
			// Smoothed over about five seconds, so a figure does not jump per tick.
			in = 0.8*in + 0.2*float64(curIn-lastIn)/dt
			out = 0.8*out + 0.2*float64(curOut-lastOut)/dt
			s.inRate.Store(math.Float64bits(in))
			s.outRate.Store(math.Float64bits(out))
			lastIn, lastOut, last = curIn, curOut, now
		}
	}
}

// Abandon makes a blocked Accept return (counted) and later ones fail fast
// (pipeline.Abandoner): called before a table swap drops the destination
// and at the pipeline's shutdown deadline, so neither waits on a full,
// blocking spool.
func (s *spooled) Abandon() { s.stopIntake() }

// Shutdown stops intake and the sender (a write in flight finishes; what is
// not acknowledged stays in the spool), closes the spool, then the writer.
// Idempotent.
func (s *spooled) Shutdown(ctx context.Context) error {
	var err error
	s.shutdownOnce.Do(func() {
		s.readyOnce.Do(func() { close(s.ready) })
		s.stopIntake() // the flush below may not wait for room
		s.lmu.Lock()
		s.flushLocked()
		s.lclosed = true
		s.lmu.Unlock()
		s.stopIntake()
		s.stopSending()
		s.wg.Wait() // Start's goroutines, if it ran
		var errs []error
		if sp := s.sp.Load(); sp != nil {
			if _, inMemory := s.opts.FS.(*spool.MemFS); inMemory {
				if q := sp.Stats().Events; q > 0 {
					s.log.Warn("memory queue (--buffer 0) stopped with events in it: they are lost", "events", q)
				}
			}
			errs = append(errs, sp.Close())
		}
		errs = append(errs, s.w.Shutdown(ctx))
		err = errors.Join(errs...)
	})
	return err
}

// SpoolInfo is what forwarder.outputs shows of a destination's spool.
type SpoolInfo struct {
	Bytes      int64   `json:"bytes"`
	Limit      int64   `json:"limit"`
	Queued     uint64  `json:"events_queued"`
	OldestAge  float64 `json:"oldest_unacked_seconds"`
	InRate     float64 `json:"in_per_second"`
	OutRate    float64 `json:"out_per_second"`
	DrainSecs  float64 `json:"drain_seconds"` // at the current out rate; -1: not draining
	Paused     bool    `json:"paused"`
	Sync       string  `json:"sync"`
	WhenFull   string  `json:"when_full"`
	DropFull   uint64  `json:"dropped_full"`
	DropAge    uint64  `json:"dropped_age"`
	DropDisk   uint64  `json:"dropped_disk_full"`
	DropCorrup uint64  `json:"dropped_corrupt"`
	// Replayed: after an unclean stop, the events the spool opened with
	// that may have been delivered already: a bound on duplicates.
	Replayed uint64 `json:"replayed_at_start"`
}

func (s *spooled) spoolInfo() SpoolInfo {
	sp := s.sp.Load()
	if sp == nil {
		return SpoolInfo{Limit: s.opts.MaxBytes, Sync: s.opts.Sync.String(), WhenFull: s.opts.WhenFull.String()}
	}
	st := sp.Stats()
	in := SpoolInfo{Bytes: st.Bytes, Limit: st.Limit, Queued: st.Events, Paused: s.paused.Load(),
		Sync: s.opts.Sync.String(), WhenFull: s.opts.WhenFull.String(),
		InRate: math.Float64frombits(s.inRate.Load()), OutRate: math.Float64frombits(s.outRate.Load()),
		DropFull: st.Dropped.Full + s.blocked.Load(), DropAge: st.Dropped.Age, DropDisk: st.Dropped.DiskFull,
		DropCorrup: st.Dropped.Corrupt + s.corrupt.Load(), Replayed: st.Recovery.Replayable}
	if !st.OldestUnacked.IsZero() {
		in.OldestAge = time.Since(st.OldestUnacked).Seconds()
	}
	switch {
	case in.Queued == 0:
		in.DrainSecs = 0
	case in.OutRate >= 1 && !in.Paused:
		in.DrainSecs = float64(in.Queued) / in.OutRate
	default:
		in.DrainSecs = -1
	}
	return in
}

func (s *spooled) Counters() Counters {
	c := Counters{EventsIn: s.in.Load(), Written: s.written.Load(), Errors: s.failed.Load()}
	if p := s.lastErr.Load(); p != nil {
		c.LastError = *p
	}
	return c
}
