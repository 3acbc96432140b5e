package outputs

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ferry-appliance/ferry/internal/liveconf"
	"github.com/ferry-appliance/ferry/net/event"
	"github.com/ferry-appliance/ferry/net/pipeline"
	"github.com/ferry-appliance/ferry/net/spool"
	"github.com/ferry-appliance/ferry/store"
)

// DefaultBuffer bounds a destination's spool when forwarder.addOutput names
// no --buffer: a day of 10k msgs/s of 500 bytes compresses to about this.
const DefaultBuffer = 1 << 30

// usesSpool reports whether rec's destination has a spool (discard does not:
// it is the ingest benchmark's sink and must measure ingest alone).
func usesSpool(rec store.Output) bool { return rec.Type != "discard" }

// spoolOptions turns rec's spool settings into the spool's options.
func (m *Manager) spoolOptions(rec store.Output) (spool.Options, error) {
	o := spool.Options{Dir: filepath.Join(m.cfg.SpoolDir, rec.Name), Name: rec.Name, MaxBytes: rec.Buffer, MaxAge: rec.MaxAge, Log: m.cfg.Log}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultBuffer
	}
	if rec.Memory {
		// --buffer 0: the same queue on a memory file system, bounded in memory.
		o.FS, o.MaxBytes = spool.NewMemFS(), MemoryBuffer
	}
	switch rec.Sync {
	case "", "interval":
		o.Sync = spool.SyncInterval
	case "always":
		o.Sync = spool.SyncAlways
	case "never":
		o.Sync = spool.SyncNever
	default:
		return o, fmt.Errorf("output %q: --sync %q: use always, interval or never", rec.Name, rec.Sync)
	}
	switch rec.WhenFull {
	case "", "drop-oldest":
		o.WhenFull = spool.DropOldest
	case "block":
		o.WhenFull = spool.Block
	default:
		return o, fmt.Errorf("output %q: --when-full %q: use drop-oldest or block", rec.Name, rec.WhenFull)
	}
	if rec.Buffer < 0 || rec.MaxAge < 0 {
		return o, fmt.Errorf("output %q: --buffer and --max-age cannot be negative", rec.Name)
	}
	return o, nil
}

// MemoryBuffer bounds the memory queue of a destination added with --buffer 0.
const MemoryBuffer = 64 << 20

// replaceSpooled replaces a running spooled destination by next, which uses
// the same spool directory: next goes into the pipeline's table first (its
// Accept waits until it has started), the old one stops and closes the
// spool, then next opens it. Nothing spooled is lost and no event arriving
// meanwhile is dropped; the pipeline waits for the few milliseconds the
// spool takes to reopen. If next cannot start, the old configuration comes
// back.
func (m *Manager) replaceSpooled(ctx context.Context, old, next *output) error {
	d, err := m.build(next.rec)
	if err != nil {
		return err
	}
	next.d = d
	abandon(old.d)
	m.outs[next.rec.Name] = next
	m.publish() // returns once no batch is in the old destination
	old.d.Shutdown(ctx)
	if err := d.Start(ctx); err == nil {
		return nil
	} else {
		d.Shutdown(ctx)
		back, berr := m.start(ctx, old.rec)
		if berr != nil {
			m.log.Error("destination not restored", "output", old.rec.Name, "err", berr)
			m.outs[old.rec.Name] = &output{rec: old.rec, err: berr}
		} else {
			m.outs[old.rec.Name] = &output{rec: old.rec, d: back}
		}
		m.publish()
		return err
	}
}

// abandon makes a destination that may block in Accept (pipeline.Abandoner)
// return and take no more, before the table that names it is swapped.
func abandon(d destination) {
	if a, ok := d.(pipeline.Abandoner); ok {
		a.Abandon()
	}
}

// Pause holds a destination's sending while its spool keeps filling
// (maintenance windows); it stays paused across restarts until Resume.
func (m *Manager) Pause(name string) (Info, error) { return m.setPaused(name, true) }

// Resume lets a paused destination send again.
func (m *Manager) Resume(name string) (Info, error) { return m.setPaused(name, false) }

func (m *Manager) setPaused(name string, paused bool) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.outs[name]
	if o == nil {
		return Info{}, fmt.Errorf("output %q: not found (forwarder.outputs lists them)", name)
	}
	if !usesSpool(o.rec) {
		return Info{}, fmt.Errorf("output %q: %s has no spool to hold events while paused", name, o.rec.Type)
	}
	rec := o.rec
	rec.Paused = paused
	_, err := liveconf.Commit(m.cfg.Outputs, m.log, name, &rec, func(_, _ *store.Output) error {
		o.rec = rec
		if sp, ok := o.d.(*spooled); ok {
			if paused {
				sp.Pause()
			} else {
				sp.Resume()
			}
		}
		return nil
	})
	if err != nil {
		return Info{}, fmt.Errorf("output %q: %w", name, err)
	}
	if paused {
		m.log.Info("destination paused", "output", name)
	} else {
		m.log.Info("destination resumed", "output", name)
	}
	return o.info(), nil
}

// spoolOf is the running spool of the destination name.
func (m *Manager) spoolOf(name string) (*spool.Spool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.outs[name]
	if o == nil {
		return nil, fmt.Errorf("output %q: not found (forwarder.outputs lists them)", name)
	}
	sp, ok := o.d.(*spooled)
	if !ok || sp.sp.Load() == nil {
		if o.d == nil {
			return nil, fmt.Errorf("output %q: not running: %v", name, o.err)
		}
		return nil, fmt.Errorf("output %q: %s has no spool", name, o.rec.Type)
	}
	return sp.sp.Load(), nil
}

// VerifySpool scans the destination's spool without changing it (spool.verify).
func (m *Manager) VerifySpool(name string) (spool.Report, error) {
	sp, err := m.spoolOf(name)
	if err != nil {
		return spool.Report{}, err
	}
	return sp.Verify()
}

// RepairSpool sets aside what VerifySpool finds bad, keeping every good record (spool.repair).
func (m *Manager) RepairSpool(name string) (spool.Report, error) {
	sp, err := m.spoolOf(name)
	if err != nil {
		return spool.Report{}, err
	}
	return sp.Repair()
}

// PeekSpool returns the oldest n queued events (spool.peek).
func (m *Manager) PeekSpool(name string, n int) ([]*event.Batch, error) {
	sp, err := m.spoolOf(name)
	if err != nil {
		return nil, err
	}
	return sp.Peek(n, event.NewPool(0, 0))
}
