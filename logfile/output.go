package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// WarnEvery is how often, at most, Output tells the console that the log file
// is losing records.
const WarnEvery = time.Minute

// Output is where the daemon's log records go: to the log file first, then a
// copy to the console (stderr). Neither can stop the other, and neither stops
// the daemon: Write always succeeds.
//
// A record the file does not take is counted (Stats, the "log" status section)
// and reaches the console only. While that lasts, the console gets one warning
// a minute naming the file, the error and the records lost since the last
// warning; when the file takes records again, the first thing written to it
// is a record saying how many were lost, so the gap shows in the audit trail.
//
// A console that fails is counted too; once its reader has gone (EPIPE) or it
// was never open (EBADF), Output stops writing to it.
type Output struct {
	file    io.Writer
	path    string
	console io.Writer
	now     func() time.Time

	mu            sync.Mutex
	st            Stats
	lastErr       error
	outage        *outage   // the file's current run of failures, nil while it works
	sinceWarn     uint64    // records lost since the last warning
	sinceWarnFrom time.Time // when the first of them was lost
	warnedAt      time.Time
	midLine       bool // the file ends in part of a record that failed half-way
}

// outage is a run of failed writes to the file.
type outage struct {
	since          time.Time
	records, bytes uint64
	warned         bool // the console was told about it
}

// Stats is what the log could not write, since the daemon started.
type Stats struct {
	Path          string
	WriteErrors   uint64 // records the file did not take (all or part)
	LostBytes     uint64 // their bytes
	LastError     string // the last such error, "" if none
	LastErrorAt   time.Time
	ConsoleErrors uint64 // records the console did not take
	ConsoleClosed bool   // the console's reader has gone, or it was never open
}

// NewOutput writes records to file (named path in messages), copying them to console.
func NewOutput(file io.Writer, path string, console io.Writer) *Output {
	return &Output{file: file, path: path, console: console, now: time.Now, st: Stats{Path: path}}
}

// Write writes one record (slog writes each record with one call). It never
// fails: what was lost is in Stats.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	o.writeFile(p, now)
	o.writeConsole(p)
	if o.outage != nil && o.sinceWarn > 0 && (o.warnedAt.IsZero() || now.Sub(o.warnedAt) >= WarnEvery) {
		o.writeConsole([]byte(fmt.Sprintf("ferryd: log file %s cannot be written (%s): %d %s lost from it since %s; stderr still gets them\n",
			o.path, short(o.lastErr), o.sinceWarn, plural(o.sinceWarn, "record"), o.sinceWarnFrom.UTC().Format(time.RFC3339))))
		o.warnedAt, o.sinceWarn, o.outage.warned = now, 0, true
	}
	return len(p), nil
}

// writeFile writes p to the file, after a note of what was lost if the file
// failed before. o.mu is held.
func (o *Output) writeFile(p []byte, now time.Time) {
	var buf []byte
	if o.midLine {
		buf = append(buf, '\n') // end the fragment, so this record starts a line of its own
	}
	if o.outage != nil {
		buf = append(buf, o.lostNote(now)...)
	}
	prefix := len(buf)
	if buf != nil {
		p = append(buf, p...)
	}
	n, err := o.file.Write(p)
	if n > 0 {
		o.midLine = p[n-1] != '\n'
	}
	lost := uint64(len(p) - max(n, prefix)) // of the record; a lost note is written again next time
	if err == nil {
		if o.outage != nil && o.outage.warned {
			o.writeConsole([]byte(fmt.Sprintf("ferryd: log file %s is written again; %d %s (%d bytes) were lost from it since %s\n",
				o.path, o.outage.records, plural(o.outage.records, "record"), o.outage.bytes, o.outage.since.UTC().Format(time.RFC3339))))
		}
		o.outage = nil
		return
	}
	o.st.WriteErrors++
	o.st.LostBytes += lost
	o.st.LastError, o.st.LastErrorAt, o.lastErr = short(err), now, err
	if o.outage == nil {
		o.outage = &outage{since: now}
	}
	o.outage.records++
	o.outage.bytes += lost
	if o.sinceWarn == 0 {
		o.sinceWarnFrom = now
	}
	o.sinceWarn++
}

// lostNote is a log record, in the file's own format, saying what the file lost.
func (o *Output) lostNote(now time.Time) []byte {
	var b bytes.Buffer
	r := slog.NewRecord(now, slog.LevelWarn, "log records lost: the log file could not be written", 0)
	r.AddAttrs(slog.Uint64("records", o.outage.records), slog.Uint64("bytes", o.outage.bytes),
		slog.Time("since", o.outage.since), slog.String("err", short(o.lastErr)))
	_ = slog.NewTextHandler(&b, nil).Handle(context.Background(), r)
	return b.Bytes()
}

// writeConsole copies p to the console, best-effort. o.mu is held.
func (o *Output) writeConsole(p []byte) {
	if o.st.ConsoleClosed {
		o.st.ConsoleErrors++
		return
	}
	if _, err := o.console.Write(p); err != nil {
		o.st.ConsoleErrors++
		o.st.ConsoleClosed = errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EBADF) || errors.Is(err, os.ErrClosed)
	}
}

// Stats returns what was lost so far.
func (o *Output) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st
}

// short is err without the path an *fs.PathError repeats: "no space left on device".
func short(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func plural(n uint64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
