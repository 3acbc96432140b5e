// Package file is the file destination: every event's raw message, one per
// line, under <dir>/<input>/<YYYY-MM-DD>.log, rotated by day and by size and
// optionally zstd-compressed. It is the appliance's local archive, so what it
// leaves on disk must always be whole lines (and, compressed, complete zstd
// frames) even after a write error such as a full disk.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxSize = 256 << 20
	DefaultSync    = time.Second
)

// logEvery bounds how often write errors are logged: a full disk fails every
// batch, and the log must not fill what is left of it.
const logEvery = time.Minute

// Config is one file destination's settings (output.file NAME ...).
type Config struct {
	Name     string
	Dir      string        // absolute
	MaxSize  int64         // rotate past this many bytes (default 256 MiB)
	Compress bool          // zstd
	Sync     time.Duration // fsync at most this often (default 1s); 0 = default
	// Now is the clock for events without a receive time and for rate
	// limiting; nil: time.Now (tests of the date roll inject one).
	Now func() time.Time
	// Location is the time zone of the file dates; nil: time.Local.
	Location *time.Location
	Log      *slog.Logger
}

// Stats are the destination's counters, for status readers.
type Stats struct {
	EventsIn, EventsWritten, BytesWritten, Errors, Escaped uint64
	LastError                                              string
	Files                                                  int // files open now
}

// Output is a file destination. Accept and Stats may be called concurrently.
type Output struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	loc *time.Location

	eventsIn, eventsWritten, bytesWritten, errs, escaped atomic.Uint64
	files                                                atomic.Int64
	lastErr                                              atomic.Pointer[string]

	mu         sync.Mutex // guards the file state below
	started    bool
	closed     bool
	streams    map[string]*stream // by input name
	scratch    []byte             // escaping buffer, reused
	lastLog    time.Time
	suppressed int // errors not logged since lastLog

	stop chan struct{} // closed by Shutdown: ends the sync loop
	done chan struct{} // closed by the sync loop when it returns
}

// New validates cfg and fills its defaults; Start opens nothing yet but the directory.
func New(cfg Config) (*Output, error) {
	if cfg.Name == "" {
		return nil, errors.New("file output: empty name")
	}
	if cfg.Dir == "" || !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("file output %q: directory %q is not an absolute path", cfg.Name, cfg.Dir)
	}
	if cfg.MaxSize < 0 {
		return nil, fmt.Errorf("file output %q: negative max size %d", cfg.Name, cfg.MaxSize)
	}
	if cfg.Sync < 0 {
		return nil, fmt.Errorf("file output %q: negative sync interval %v", cfg.Name, cfg.Sync)
	}
	cfg.Dir = filepath.Clean(cfg.Dir)
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Sync == 0 {
		cfg.Sync = DefaultSync
	}
	o := &Output{cfg: cfg, now: cfg.Now, loc: cfg.Location, log: cfg.Log,
		streams: make(map[string]*stream), stop: make(chan struct{}), done: make(chan struct{})}
	if o.now == nil {
		o.now = time.Now
	}
	if o.loc == nil {
		o.loc = time.Local
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.log = o.log.With("component", "output.file", "name", cfg.Name)
	return o, nil
}

// Name is the destination's name, for routes and status.
func (o *Output) Name() string { return o.cfg.Name }

// Start creates the directory (0750) if needed, checks that it can write
// there (so a bad mount shows at start, not as lost events) and starts the
// fsync loop, which Shutdown stops.
func (o *Output) Start(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("file output %q: already shut down", o.cfg.Name)
	}
	if o.started {
		return fmt.Errorf("file output %q: already started", o.cfg.Name)
	}
	if err := checkDir(o.cfg.Dir); err != nil {
		return fmt.Errorf("file output %q: %w", o.cfg.Name, err)
	}
	o.started = true
	go o.syncLoop()
	return nil
}

// checkDir makes dir and proves it writable by creating and removing a file.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".ferry-probe-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("directory %s: removing probe file: %w", dir, err)
	}
	return nil
}

// Shutdown stops the fsync loop, then flushes, syncs and closes every file.
// Idempotent; later batches are counted as errors.
func (o *Output) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	started := o.started
	close(o.stop)
	o.mu.Unlock()
	if started {
		select {
		case <-o.done:
		case <-ctx.Done():
			return fmt.Errorf("file output %q: shutdown: %w", o.cfg.Name, ctx.Err())
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, s := range o.streams {
		if err := o.closeStream(s); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file output %q: shutdown: %w", o.cfg.Name, err)
	}
	return nil
}

// Stats returns the counters; safe to call while Accept runs.
func (o *Output) Stats() Stats {
	st := Stats{EventsIn: o.eventsIn.Load(), EventsWritten: o.eventsWritten.Load(),
		BytesWritten: o.bytesWritten.Load(), Errors: o.errs.Load(), Escaped: o.escaped.Load(),
		Files: int(o.files.Load())}
	if p := o.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// fail counts n events as failed, records err and logs it at most once per
// logEvery. Called with mu held.
func (o *Output) fail(n int, err error) {
	o.errs.Add(uint64(n))
	msg := err.Error()
	o.lastErr.Store(&msg)
	now := o.now()
	if !o.lastLog.IsZero() && now.Sub(o.lastLog) < logEvery {
		o.suppressed++
		return
	}
	o.log.Error("write failed; retrying with the next batch", "err", err, "suppressed", o.suppressed)
	o.lastLog, o.suppressed = now, 0
}

// syncLoop fsyncs the files written since the last tick. It syncs outside the
// lock so that a slow disk does not stall Accept; a file closed meanwhile
// (rotation syncs before closing) just reports os.ErrClosed.
func (o *Output) syncLoop() {
	defer close(o.done)
	t := time.NewTicker(o.cfg.Sync)
	defer t.Stop()
	var files []*os.File
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		files = files[:0]
		o.mu.Lock()
		for _, s := range o.streams {
			if s.dirty && s.f != nil {
				files = append(files, s.f)
				s.dirty = false
			}
		}
		o.mu.Unlock()
		for _, f := range files {
			if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
				o.mu.Lock()
				o.fail(0, fmt.Errorf("fsync %s: %w", f.Name(), err))
				o.mu.Unlock()
			}
		}
	}
}
